"""Search over a registry of realistic size: p50/p95 of GET /returnees/search's query against
a primary-key read of one registration on the same data, the same connection, the same run.

The registry is a throwaway intake schema (migrated like intake's own), filled with COPY:
names drawn from common Malian given and family names written in their usual variants, so
that a name search meets the crowds a real registry holds (thousands of Traorés). The query is
the adapter's own (retour_intake.adapters.returnee_views), without HTTP around it.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg

from bench.common import Stack, percentile, scratch_copy
from retour_contracts.examples import returnee_registered_data
from retour_intake.adapters.returnee_views import PgReturneeViews
from retour_intake.domain.search import SearchQuery

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
QUERIES = 400


@dataclass(frozen=True)
class Person:
    returnee_id: uuid.UUID
    given: str
    family: str
    phone: str
    national_id: str


def _people(count: int, rng: random.Random) -> list[Person]:
    return [
        Person(
            returnee_id=uuid.uuid4(),
            given=rng.choice(GIVEN),
            family=rng.choice(FAMILY) + ("" if rng.random() < 0.7 else f" {rng.choice(FAMILY)}"),
            phone=f"+2237{index:07d}",
            national_id=f"NINA{index:011d}",
        )
        for index in range(count)
    ]


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
    return (
        person.returnee_id,
        record["reception_centre"],
        arrival,
        datetime(arrival.year, arrival.month, arrival.day, 10, tzinfo=UTC),
        f"{person.given} {person.family}".lower(),
        person.family.lower(),
        None,
        1990,
        person.phone,
        record,
    )


def _queries(people: list[Person], rng: random.Random) -> list[str]:
    chosen = rng.sample(people, QUERIES // 4)
    queries = []
    for person in chosen:
        national = person.phone.removeprefix("+223")
        queries += [
            person.returnee_id.hex[:8].upper(),
            f"{national[:2]} {national[2:4]} {national[4:6]} {national[6:]}",
            person.national_id.lower(),
            f"{person.given} {person.family}".replace("Cou", "Ku").replace("é", "e"),
        ]
    return queries


async def latencies(stack: Stack, registrations: int) -> dict[str, float]:
    rng = random.Random(19)
    people = _people(registrations, rng)
    async with scratch_copy(stack, "intake", "retour_intake") as schema:
        # Filling a million rows (their trigram indexes too) takes longer than the statement
        # time limit the service's role has, which is there for requests, not for bulk loads.
        conn = await asyncpg.connect(
            stack.dsns["intake"],
            server_settings={"search_path": schema, "statement_timeout": "0"},
        )
        try:
            # COPY is binary: jsonb's binary form is a version byte, then the JSON text.
            await conn.set_type_codec(
                "jsonb",
                encoder=lambda value: b"\x01" + json.dumps(value).encode(),
                decoder=lambda data: json.loads(data[1:]),
                schema="pg_catalog",
                format="binary",
            )
            await conn.copy_records_to_table(
                "returnees",
                records=[_row(person, rng) for person in people],
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
            views = PgReturneeViews(conn)
            searched, by_id = [], []
            for q in _queries(people, rng):
                started = time.perf_counter()
                await views.search(SearchQuery.read(q), centres=None)
                searched.append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                await views.get(rng.choice(people).returnee_id, centres=None)
                by_id.append((time.perf_counter() - started) * 1000)
        finally:
            await conn.close()
    return {
        "search_p50_ms": percentile(searched, 50),
        "search_p95_ms": percentile(searched, 95),
        "by_id_p95_ms": percentile(by_id, 95),
    }
