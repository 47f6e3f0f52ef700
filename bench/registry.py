"""Registries of realistic size for the growth curves (search, registration).

A registry is a throwaway intake schema, migrated like intake's own, filled with COPY: names
drawn from common Malian given and family names written in their usual variants, so that a
name meets the crowds a real registry holds (thousands of Traorés at a million people), and a
few people registered twice, as a registry holds them before review. Every row carries the
keys intake itself derives (`retour_intake.domain.duplicates.PersonKeys`): duplicate
detection and search then meet the same crowds as in production.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg

from bench.common import Stack, scratch_copy
from retour_contracts.examples import returnee_registered_data
from retour_intake.domain.duplicates import PersonKeys

GIVEN = [
    "Aïssata",
    "Mamadou",
    "Fatoumata",
    "Oumar",
    "Kadiatou",
    "Moussa",
    "Awa",
    "Bakary",
    "Mariam",
    "Seydou",
    "Djénéba",
    "Boubacar",
    "Hawa",
    "Souleymane",
    "Rokia",
    "Adama",
]
FAMILY = [
    "Traoré",
    "Traore",
    "Coulibaly",
    "Kulibali",
    "Keïta",
    "Keita",
    "Diarra",
    "Koné",
    "Sissoko",
    "Touré",
    "Cissé",
    "Diallo",
    "Sangaré",
    "Doumbia",
    "Konaté",
    "Dembélé",
]
CENTRES = ["bamako", "kayes", "gao", "mopti", "tombouctou"]
BORN_FROM, BORN_TO = 1979, 2006
"""Birth years of the registered (18 to 45 at their arrival): registrations that must meet
the crowds without matching anyone come with a later one (`bench/wrk/intake.lua`)."""
REGISTERED_TWICE = 0.02
"""Share of rows that are a second registration of an earlier person (another centre, another
phone): what duplicate review finds in a real registry."""


@dataclass(frozen=True)
class Person:
    returnee_id: uuid.UUID
    given: str
    family: str
    birth_year: int
    phone: str
    national_id: str


@dataclass(frozen=True)
class Registry:
    schema: str
    """The intake schema holding it, owned by intake's role."""
    people: list[Person]


def people(count: int, rng: random.Random) -> list[Person]:
    made: list[Person] = []
    for index in range(count):
        if made and rng.random() < REGISTERED_TWICE:
            earlier = rng.choice(made)
            made.append(
                replace(
                    earlier,
                    returnee_id=uuid.uuid4(),
                    phone=f"+2237{index:07d}",
                    national_id=f"NINA{index:011d}",
                )
            )
            continue
        family = rng.choice(FAMILY) + ("" if rng.random() < 0.7 else f" {rng.choice(FAMILY)}")
        made.append(
            Person(
                returnee_id=uuid.uuid4(),
                given=rng.choice(GIVEN),
                family=family,
                birth_year=rng.randint(BORN_FROM, BORN_TO),
                phone=f"+2237{index:07d}",
                national_id=f"NINA{index:011d}",
            )
        )
    return made


def _row(person: Person, rng: random.Random) -> tuple[Any, ...]:
    arrival = date(2020, 1, 1) + timedelta(days=rng.randrange(1800))
    record = returnee_registered_data(
        returnee_id=str(person.returnee_id),
        reception_centre=rng.choice(CENTRES),
        arrival_date=arrival.isoformat(),
        registered_at=f"{arrival.isoformat()}T10:00:00Z",
        personal={
            "given_name": person.given,
            "family_name": person.family,
            "phone": person.phone,
            "national_id": person.national_id,
            "date_of_birth": None,
        },
    )
    keys = PersonKeys.of(
        given_name=person.given,
        family_name=person.family,
        birth_date=None,
        birth_year=person.birth_year,
        phone=person.phone,
    )
    return (
        person.returnee_id,
        record["reception_centre"],
        arrival,
        datetime(arrival.year, arrival.month, arrival.day, 10, tzinfo=UTC),
        keys.name_key,
        keys.family_key,
        keys.birth_date,
        keys.birth_year,
        keys.phone,
        record,
    )


async def connect(stack: Stack, registry: Registry) -> asyncpg.Connection:
    """A connection of intake's role to the registry's schema, without the statement time
    limit the role has for requests (filling a million rows and their indexes takes longer)."""
    conn: asyncpg.Connection = await asyncpg.connect(
        stack.dsns["intake"],
        server_settings={"search_path": registry.schema, "statement_timeout": "0"},
    )
    # COPY is binary: jsonb's binary form is a version byte, then the JSON text.
    await conn.set_type_codec(
        "jsonb",
        encoder=lambda value: b"\x01" + json.dumps(value).encode(),
        decoder=lambda data: json.loads(data[1:]),
        schema="pg_catalog",
        format="binary",
    )
    return conn


@asynccontextmanager
async def seeded(stack: Stack, count: int, *, seed: int = 19) -> AsyncIterator[Registry]:
    """A registry of `count` people, dropped on exit."""
    rng = random.Random(seed)
    registered = people(count, rng)
    async with scratch_copy(stack, "intake", "retour_intake") as schema:
        registry = Registry(schema, registered)
        conn = await connect(stack, registry)
        try:
            await conn.copy_records_to_table(
                "returnees",
                records=[_row(person, rng) for person in registered],
                columns=[
                    "returnee_id",
                    "reception_centre",
                    "arrival_date",
                    "registered_at",
                    "name_key",
                    "family_key",
                    "birth_date",
                    "birth_year",
                    "phone",
                    "record",
                ],
            )
            await conn.execute("ANALYZE returnees")
        finally:
            await conn.close()
        yield registry
