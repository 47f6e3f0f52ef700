"""Periodic chores of the delivery ledger, run by every instance (each is idempotent)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta

import structlog

from retour_kit.safe_errors import describe_error
from retour_kit.waiting import pause_unless_stopped
from retour_notifications.adapters.metrics import NotificationMetrics
from retour_notifications.adapters.pg_queue import PgDeliveryQueue

log = structlog.stdlib.get_logger(__name__)


class Upkeep:
    """Periodic chores: fail rows interrupted mid-send and rows held too long, record as
    ambiguous the uncertain sends no delivery report settled in time, forget old
    phone numbers, refresh the pending gauges; and, less often, delete finished rows past the
    ledger's retention and give up the waves of manifests left incomplete."""

    def __init__(
        self,
        *,
        queue: PgDeliveryQueue,
        forget_contacts: Callable[[], Awaitable[int]],
        metrics: NotificationMetrics,
        interrupted_after: timedelta,
        held_at_most: timedelta,
        interval_seconds: float,
        ledger_retention: timedelta,
        prune_every_seconds: float,
        give_up_waves: Callable[[], Awaitable[int]] | None = None,
        report_wait: timedelta | None = None,
    ) -> None:
        self._queue = queue
        self._forget_contacts = forget_contacts
        self._metrics = metrics
        self._interrupted_after = interrupted_after
        self._held_at_most = held_at_most
        self._interval = interval_seconds
        self._ledger_retention = ledger_retention
        self._prune_every = prune_every_seconds
        self._give_up_waves = give_up_waves  # None: no waves to mind (the ledger's tests)
        self._report_wait = report_wait  # None: uncertain rows are left alone (idem)

    name = "notifications-upkeep"

    async def run(self, stopping: asyncio.Event) -> None:
        next_prune = time.monotonic()  # at the first tick, then every prune_every_seconds
        while not stopping.is_set():
            try:
                await self.tick()
            except Exception as error:
                log.warning("notifications upkeep failed", error=type(error).__name__)
            if time.monotonic() >= next_prune:
                # Due again one period later whatever happens: a failed pass (an outage, a time
                # limit) is retried then, not at every tick.
                next_prune = time.monotonic() + self._prune_every
                try:
                    await self.prune_ledger(stopping)
                    await self.give_up_waves()
                except Exception as error:
                    log.warning("notifications ledger pruning failed", error=describe_error(error))
            await pause_unless_stopped(stopping, self._interval)

    async def tick(self) -> None:
        for channel in await self._queue.fail_interrupted(self._interrupted_after):
            self._metrics.failed.labels(channel.value, "interrupted").inc()
            log.warning("notification interrupted mid-send, not resent", channel=channel.value)
        for channel in await self._queue.fail_held(self._held_at_most):
            self._metrics.failed.labels(channel.value, "never_registered").inc()
            log.warning("held notification expired unsent", channel=channel.value)
        if self._report_wait is not None:
            given_up = await self._queue.give_up_uncertain(self._report_wait)
            for channel, notification_id, returnee_id in given_up:
                self._metrics.ambiguous.labels(channel.value).inc()
                log.warning(
                    "no delivery report for an uncertain notification: ambiguous, not resent",
                    channel=channel.value,
                    notification_id=str(notification_id),
                    returnee_id=str(returnee_id),
                )
        forgotten = await self._forget_contacts()
        if forgotten:
            log.info("phone numbers past retention forgotten", contacts=forgotten)
        self._metrics.set_pending(await self._queue.pending())

    async def give_up_waves(self) -> int:
        """Gives up the manifests' waves still incomplete past their time: a summary that can
        no longer come (pg_waves.py)."""
        if self._give_up_waves is None:
            return 0
        given_up = await self._give_up_waves()
        if given_up:
            log.warning("incomplete waves given up, never summarised", waves=given_up)
        return given_up

    async def prune_ledger(self, stopping: asyncio.Event | None = None) -> int:
        """Deletes the finished rows older than the ledger's retention (never a held, queued or
        sending one), a batch at a time, stopping between two batches when asked."""
        pruned = await self._queue.prune_finished(self._ledger_retention, stopping=stopping)
        self._metrics.pruned.inc(pruned)
        if pruned:
            log.info("finished notifications past retention deleted", deliveries=pruned)
        return pruned
