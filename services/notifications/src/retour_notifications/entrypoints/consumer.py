"""Kafka entry point: each new event becomes rows in the delivery ledger, nothing more."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from uuid import UUID

import structlog

from retour_contracts import ParsedEvent, ReturneeExpected
from retour_kit.unit_of_work import HandleWith
from retour_notifications.adapters.metrics import NotificationMetrics
from retour_notifications.adapters.unit_of_work import LedgerWork
from retour_notifications.usecases.forget import record_events
from retour_notifications.usecases.record import Recording
from retour_notifications.usecases.unseal import DataKeys, opened
from retour_notifications.usecases.waves import ExpectedRead, WaveSummaries, record_expected

log = structlog.stdlib.get_logger(__name__)


def notification_recorder(
    recording: Recording,
    metrics: NotificationMetrics,
    keys: DataKeys,
    summaries: WaveSummaries,
) -> HandleWith[LedgerWork]:
    """The consumer's handler. It runs in the transaction that also writes the batch's inbox
    rows, so the ledger rows commit exactly once per event (a redelivery finds the inbox row
    and never reaches this function). Sealed personal blocks are opened first, with keys
    from intake: an unreachable key store makes the batch wait, never lose an event. Expected
    people (manifests) are about no returnee: counted per wave apart from the rest, their
    sealed block never opened."""

    async def record(work: LedgerWork, batch: Sequence[ParsedEvent]) -> None:
        expected, others = _expected_apart(batch)
        if others:
            await record_returnee_events(work, others)
        # Last: the waves stay locked for the end of the transaction only, never while
        # intake's key store is asked for keys.
        await _record_waves(work, expected, summaries, metrics)

    async def record_returnee_events(work: LedgerWork, batch: Sequence[ParsedEvent]) -> None:
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


def _expected_apart(batch: Sequence[ParsedEvent]) -> tuple[list[ExpectedRead], list[ParsedEvent]]:
    expected: list[ExpectedRead] = []
    others: list[ParsedEvent] = []
    for parsed in batch:
        if isinstance(parsed.event, ReturneeExpected):
            expected.append(ExpectedRead(parsed.event, UUID(parsed.event_id), parsed.time))
        else:
            others.append(parsed)
    return expected, others


async def _record_waves(
    work: LedgerWork,
    expected: Sequence[ExpectedRead],
    summaries: WaveSummaries,
    metrics: NotificationMetrics,
) -> None:
    if not expected:
        return
    done = await record_expected(
        expected, waves=work.waves, ledger=work.ledger, summaries=summaries, now=datetime.now(UTC)
    )
    for summarised in done:
        for row in summarised.rows:
            metrics.recorded.labels(row.channel.value, row.status.value).inc()
    log.info("expected people recorded", events=len(expected), waves_summarised=len(done))
