"""A fifth service, declared on the kit's runtime as a newcomer would: it consumes
registrations, offers each returnee a night's lodging through its outbox, and lists what it
offered. tests/test_service_apps.py holds it to what every composition root promises."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from fastapi import APIRouter

from retour_contracts import (
    AID_GRANTED_V1,
    RETURNEE_REGISTERED_V1,
    ParsedEvent,
    ReturneeRegistered,
    build_envelope,
)
from retour_contracts.examples import example_aid_granted
from retour_kit.db import Connection
from retour_kit.outbox import enqueue
from retour_kit.runtime import Parts, ServiceDefinition, Wiring
from retour_kit.settings import ConsumingSettings

# The toy's migrations package: the kit's inbox and outbox tables, as every consuming and
# publishing service declares them, then the toy's own table.
KIT_TABLES = ("outbox", "inbox")
MIGRATIONS = {
    "__init__.py": f"KIT_TABLES = {KIT_TABLES!r}\n",
    "0001_offers.sql": "CREATE TABLE offers (returnee_id uuid PRIMARY KEY);",
}


class ToySettings(ConsumingSettings):
    service_name: str = "retour-toy"
    http_port: int = 8005
    consumer_group: str = "toy"
    database_schema: str = "toy"


class Offers:
    """The toy's one adapter, bound to a unit of work's connection by the kit."""

    def __init__(self, conn: Connection, settings: ToySettings) -> None:
        self._conn, self._settings = conn, settings

    async def offer_lodging(self, who: UUID) -> None:
        await self._conn.execute("INSERT INTO offers VALUES ($1)", who)
        aid = example_aid_granted(returnee_id=who, phase="immediate", category="lodging")
        envelope = build_envelope(AID_GRANTED_V1, aid, source="/toy")
        await enqueue(self._conn, envelope, topic=self._settings.aid_granted_topic)

    async def all(self) -> list[str]:
        return [str(row[0]) for row in await self._conn.fetch("SELECT * FROM offers")]


async def on_registrations(offers: Offers, events: Sequence[ParsedEvent]) -> None:
    for parsed in events:
        assert isinstance(parsed.event, ReturneeRegistered)  # the one event it consumes
        await offers.offer_lodging(parsed.event.returnee_id)


def wire(parts: Parts[ToySettings]) -> Wiring:
    work = parts.unit_of_work(lambda conn: Offers(conn, parts.settings))
    router = APIRouter()

    @router.get("/offers")
    async def offers() -> list[str]:
        async with work.reading() as adapters:
            return await adapters.all()

    return Wiring(routers=[router], handler=work.handling(on_registrations))


def toy_service(migrations_package: str) -> ServiceDefinition[ToySettings]:
    return ServiceDefinition(
        name="toy",
        version="0.1.0",
        settings=ToySettings,
        wire=wire,
        migrations_package=migrations_package,
        outbox=True,
        consumes=(RETURNEE_REGISTERED_V1,),
        schema_of=lambda settings: settings.database_schema,
    )
