"""The follow-up worker: every FOLLOW_UP_CHECK_SECONDS, queues the reminders and overdue emails
that monitoring visits call for (usecases/remind.py); the senders then send them like any
other message. Every instance runs one: each message is decided under the returnee's lock and
remembered by its visit, so two replicas never queue it twice."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import structlog

from retour_kit.safe_errors import describe_error
from retour_kit.waiting import pause_unless_stopped
from retour_notifications.adapters.metrics import NotificationMetrics
from retour_notifications.usecases.remind import (
    FollowUpSending,
    Page,
    Transactions,
    queue_overdue,
    queue_reminders,
)

log = structlog.stdlib.get_logger(__name__)


class FollowUpWorker:
    name = "notifications-follow-ups"

    def __init__(
        self,
        work: Transactions,
        sending: FollowUpSending,
        *,
        metrics: NotificationMetrics,
        interval_seconds: float,
    ) -> None:
        self._work = work
        self._sending = sending
        self._metrics = metrics
        self._interval = interval_seconds

    async def run(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            try:
                await self.tick(datetime.now(UTC), stopping)
            except Exception as error:  # Postgres unreachable, typically: try again later
                log.warning("follow-up worker failed", error=describe_error(error))
            await pause_unless_stopped(stopping, self._interval)

    async def tick(self, now: datetime, stopping: asyncio.Event | None = None) -> int:
        """Queues what is due at ``now``; returns how many messages."""
        reminders = await self._all_pages(queue_reminders, now, stopping)
        overdue = await self._all_pages(queue_overdue, now, stopping)
        if reminders or overdue:
            log.info("follow-up messages queued", reminders=reminders, overdue=overdue)
        return reminders + overdue

    async def _all_pages(
        self,
        queue: Callable[[Transactions, FollowUpSending, datetime], Awaitable[Page]],
        now: datetime,
        stopping: asyncio.Event | None,
    ) -> int:
        queued = 0
        while stopping is None or not stopping.is_set():
            page = await queue(self._work, self._sending, now)
            for row in page.queued:
                self._metrics.recorded.labels(row.channel.value, row.status.value).inc()
            queued += len(page.queued)
            # A full page that queued nothing holds only visits that must wait (a registration
            # not read yet): the next run looks again, rather than this one spinning on them.
            if page.seen < self._sending.page_size or not page.queued:
                break
        return queued
