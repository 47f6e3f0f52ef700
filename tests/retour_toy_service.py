"""A fifth service, declared on the kit's runtime as a newcomer would: it consumes
registrations, offers each returnee a night's lodging through its outbox, and lists what it
offered. tests/test_service_apps.py holds it to what every composition root promises."""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources

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

# The inbox and outbox tables as every consuming and publishing service has them (here borrowed
# from reintegration's first migration), then the toy's own table.
INBOX_AND_OUTBOX = resources.files("retour_reintegration.migrations") / "0001_inbox_and_outbox.sql"
MIGRATIONS = {
    "0001_inbox_and_outbox.sql": INBOX_AND_OUTBOX.read_text(),
    "0002_offers.sql": "CREATE TABLE offers (returnee_id uuid PRIMARY KEY);",
}


class ToySettings(ConsumingSettings):
    service_name: str = "retour-toy"
    http_port: int = 8005
    consumer_group: str = "toy"
    database_schema: str = "toy"


def wire(parts: Parts[ToySettings]) -> Wiring:
    schema, offers_topic = parts.settings.database_schema, parts.settings.aid_granted_topic

    async def offer_lodging(conn: Connection, events: Sequence[ParsedEvent]) -> None:
        for parsed in events:
            assert isinstance(parsed.event, ReturneeRegistered)  # the one event it consumes
            who = parsed.event.returnee_id
            await conn.execute("INSERT INTO offers VALUES ($1)", who)
            aid = example_aid_granted(returnee_id=who, phase="immediate", category="lodging")
            envelope = build_envelope(AID_GRANTED_V1, aid, source="/toy")
            await enqueue(conn, envelope, topic=offers_topic, schema=schema)

    router = APIRouter()

    @router.get("/offers")
    async def offers() -> list[str]:
        return [str(row[0]) for row in await parts.pool().fetch("SELECT * FROM offers")]

    return Wiring(routers=[router], handler=offer_lodging)


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
