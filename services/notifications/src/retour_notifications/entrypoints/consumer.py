"""Kafka entry point: each new event becomes rows in the delivery ledger, nothing more."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime

import structlog

from retour_contracts import ParsedEvent
from retour_kit.unit_of_work import HandleWith
from retour_notifications.adapters.metrics import NotificationMetrics
from retour_notifications.adapters.unit_of_work import LedgerWork
from retour_notifications.usecases.forget import record_events
from retour_notifications.usecases.record import Recording
from retour_notifications.usecases.unseal import DataKeys, opened

log = structlog.stdlib.get_logger(__name__)


def notification_recorder(
    recording: Recording, metrics: NotificationMetrics, keys: DataKeys
) -> HandleWith[LedgerWork]:
    """The consumer's handler. It runs in the transaction that also writes the batch's inbox
    rows, so the ledger rows commit exactly once per event (a redelivery finds the inbox row
    and never reaches this function). Sealed personal blocks are opened first, with keys
    from intake: an unreachable key store makes the batch wait, never lose an event."""

    async def record(work: LedgerWork, batch: Sequence[ParsedEvent]) -> None:
        results = await record_events(
            await opened(batch, keys),
            ledger=work.ledger,
            contacts=work.contacts,
            forgetting=work.forgetting,
            follow_ups=work.follow_ups,
            recording=recording,
            now=datetime.now(UTC),
        )
        for recorded in results:
            if recorded.stale:
                metrics.stale_events.inc()
            for row in recorded.rows:
                metrics.recorded.labels(row.channel.value, row.status.value).inc()
        if log.isEnabledFor(logging.DEBUG):
            # Per event at debug level only: the ledger rows say the same for good.
            for parsed, recorded in zip(batch, results, strict=True):
                log.debug(
                    "notifications recorded",
                    event_type=parsed.spec.topic,
                    event_id=parsed.event_id,
                    returnee_id=parsed.subject,
                    recorded=[f"{row.rule}:{row.status.value}" for row in recorded.rows],
                    released=recorded.released,
                    stale=recorded.stale,
                )
        log.info(
            "notifications recorded",
            events=len(batch),
            rows=sum(len(recorded.rows) for recorded in results),
            released=sum(recorded.released for recorded in results),
            stale=sum(recorded.stale for recorded in results),
        )

    return record
