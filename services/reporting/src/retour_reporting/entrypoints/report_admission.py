"""Admission of report requests: a bounded number run, a bounded number wait, briefly; the rest
are told at once to come back later (503 with Retry-After).

Why: a report reads whole projections, so only ``REPORT_MAX_CONCURRENT`` run at once (the
size of the reports' pool). Without this gate every other request queued for a pooled
connection for up to ``DATABASE_ACQUIRE_TIMEOUT_SECONDS`` (10 s) and then ran its query on a
machine still busy with the others: under a burst (a fuzzer, a dashboard left open on many
screens) requests took well over 10 s, and the queue kept growing faster than it drained.
Refusing early keeps each admitted report as fast as when the service is quiet, and gives the
client an answer it can act on.

The gate lives in this process's event loop: each replica admits its own share, as each has its
own pool.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from prometheus_client import CollectorRegistry, Counter

from retour_kit.http_errors import RETRY_AFTER_SECONDS, ApiError


class ReportAdmission:
    """``running`` reports at once; up to ``waiting`` more wait at most ``wait_seconds`` for
    their turn, in arrival order; any other is refused with 503 ``reports_busy``."""

    def __init__(
        self,
        *,
        running: int,
        waiting: int,
        wait_seconds: float,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self._slots = asyncio.Semaphore(running)
        self._max_waiting = waiting
        self._waiting = 0
        self._wait_seconds = wait_seconds
        self._refused = Counter(
            "reporting_reports_refused",
            "Report requests answered 503 reports_busy: too many running and waiting already,"
            " or no turn within REPORT_QUEUE_WAIT_SECONDS.",
            ["reason"],
            registry=registry,
        )

    @property
    def waiting(self) -> int:
        """Requests waiting for their turn now."""
        return self._waiting

    @asynccontextmanager
    async def admitted(self) -> AsyncIterator[None]:
        """Holds one of the running places for the body of the ``async with``; raises the 503
        instead when the queue is full or the turn does not come in time."""
        if self._slots.locked() and self._waiting >= self._max_waiting:
            raise self._busy("queue_full")
        self._waiting += 1
        try:
            async with asyncio.timeout(self._wait_seconds):
                await self._slots.acquire()
        except TimeoutError:
            raise self._busy("wait_too_long") from None
        finally:
            self._waiting -= 1
        try:
            yield
        finally:
            self._slots.release()

    def _busy(self, reason: str) -> ApiError:
        # Counted, not logged: under a flood a line per refusal would drown the logs.
        self._refused.labels(reason).inc()
        return ApiError(
            503,
            "reports_busy",
            "too many reports are being prepared right now; try again in a few seconds",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
