"""The closing worker: every EXPECTED_ARRIVAL_CHECK_SECONDS, closes the expected people whose
time to arrive ran out (EXPECTED_ARRIVAL_CLOSE_AFTER_DAYS after the later of their expected
date and the day their manifest was received).

Every replica runs one. Each batch is one transaction: the people are locked with SKIP LOCKED,
so two replicas never close the same person twice, and their closing, destroyed keys and
``expected_arrival.closed`` events commit together."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import structlog

from retour_intake.adapters.metrics import IntakeMetrics
from retour_intake.expected_arrivals import ExpectedWork, close_lapsed
from retour_kit.safe_errors import describe_error
from retour_kit.unit_of_work import UnitOfWork
from retour_kit.waiting import pause_unless_stopped

log = structlog.stdlib.get_logger(__name__)

BATCH = 200


class ExpectedArrivalCloser:
    name = "intake-expected-arrivals"

    def __init__(
        self,
        work: UnitOfWork[ExpectedWork],
        *,
        close_after_days: int,
        interval_seconds: float,
        metrics: IntakeMetrics,
        batch: int = BATCH,
    ) -> None:
        self._work = work
        self._close_after_days = close_after_days
        self._interval = interval_seconds
        self._metrics = metrics
        self._batch = batch

    async def run(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            try:
                await self.tick(datetime.now(UTC), stopping)
            except Exception as error:  # Postgres unreachable, typically: try again later
                log.warning("expected arrivals closing failed", error=describe_error(error))
            await pause_unless_stopped(stopping, self._interval)

    async def tick(self, now: datetime, stopping: asyncio.Event | None = None) -> int:
        """Closes everyone due at ``now``, a batch per transaction; returns how many."""
        closed = 0
        while stopping is None or not stopping.is_set():
            async with self._work.transaction() as work:
                events = await close_lapsed(
                    work,
                    today=now.date(),
                    close_after_days=self._close_after_days,
                    now=now,
                    batch=self._batch,
                )
            for event in events:
                self._metrics.expected_closed.labels(event.reception_centre.value).inc()
            closed += len(events)
            if len(events) < self._batch:
                break
        if closed:
            log.info("expected arrivals closed as lapsed", closed=closed)
        return closed
