"""Kafka entry point: each new event becomes rows in the delivery ledger, nothing more."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

import structlog

from retour_contracts import ParsedEvent
from retour_kit.consuming import DbConnection, HandleEvent
from retour_notifications.adapters.metrics import NotificationMetrics
from retour_notifications.adapters.pg_contacts import PgContacts
from retour_notifications.adapters.pg_ledger import PgLedger
from retour_notifications.usecases.record import IncomingEvent, Recording, record_notifications

log = structlog.stdlib.get_logger(__name__)


def notification_recorder(recording: Recording, metrics: NotificationMetrics) -> HandleEvent:
    """The consumer's handler. It runs in the transaction that also writes the event's inbox
    row, so the ledger rows commit exactly once per event (a redelivery finds the inbox row
    and never reaches this function)."""

    async def record(conn: DbConnection, parsed: ParsedEvent) -> None:
        recorded = await record_notifications(
            IncomingEvent(parsed.event, UUID(parsed.event_id), parsed.time),
            ledger=PgLedger(conn),
            contacts=PgContacts(conn),
            recording=recording,
            now=datetime.now(UTC),
        )
        if recorded.stale:
            metrics.stale_events.inc()
        for row in recorded.rows:
            metrics.recorded.labels(row.channel.value, row.status.value).inc()
        log.info(
            "notifications recorded",
            event_type=parsed.spec.topic,
            event_id=parsed.event_id,
            returnee_id=parsed.subject,
            recorded=[f"{row.rule}:{row.status.value}" for row in recorded.rows],
            released=recorded.released,
            stale=recorded.stale,
        )

    return record
