"""Waiting that a stop request can interrupt, and the backoff of an outage."""

from __future__ import annotations

import asyncio

import structlog

from retour_kit.consuming.metrics import ConsumerMetrics
from retour_kit.consuming.settings import RetryPolicy
from retour_kit.waiting import pause_unless_stopped

log = structlog.stdlib.get_logger(__name__)


class ConsumerStopped(Exception):
    """A stop was requested while the consumer waited; the batch in hand is abandoned
    uncommitted (it is redelivered to whoever consumes the partition next)."""


async def pause(stopping: asyncio.Event, seconds: float) -> None:
    """Sleeps ``seconds``, or raises ``ConsumerStopped`` as soon as ``stopping`` is set: the
    consumer abandons the batch in hand, uncommitted."""
    if await pause_unless_stopped(stopping, seconds):
        raise ConsumerStopped


class OutageBackoff:
    """Capped exponential backoff for one operation that waits out an outage."""

    def __init__(
        self,
        *,
        retry: RetryPolicy,
        stopping: asyncio.Event,
        group: str,
        metrics: ConsumerMetrics | None,
    ) -> None:
        self._retry = retry
        self._stopping = stopping
        self._group = group
        self._metrics = metrics
        self._failures = 0

    async def wait(self, error: BaseException, *, topic: str, operation: str) -> None:
        self._failures += 1
        delay = self._retry.outage_pause(self._failures)
        log.warning(
            "dependency unavailable, retrying without committing",
            operation=operation,
            topic=topic,
            error=type(error).__name__,
            attempt=self._failures,
            retry_in_s=round(delay, 2),
        )
        if self._metrics:
            self._metrics.outage.labels(self._group).set(1)
            self._metrics.outage_retries.labels(self._group, topic).inc()
        try:
            await pause(self._stopping, delay)
        except ConsumerStopped:
            self.recovered()
            raise

    def recovered(self) -> None:
        """The operation succeeded (or was given up): the outage is over for it."""
        if self._failures and self._metrics:
            self._metrics.outage.labels(self._group).set(0)
        self._failures = 0
