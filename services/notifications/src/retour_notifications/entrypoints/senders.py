"""Background loops that deliver the ledger: one pool of workers per channel, plus upkeep.

Each channel has its own workers, so an SMS gateway that is down or slow delays no email (and
the consumer, which only writes the ledger, is never delayed at all). Workers claim one row at
a time; several instances of the service can run side by side (SKIP LOCKED claims). A rate
limit (SMS_MAX_PER_SECOND) is a budget shared by every instance: each claim reserves its send
slot in the database, in the claim's transaction (PgDeliveryQueue.claim_paced).
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import structlog

from retour_kit.waiting import exponential_backoff, pause_unless_stopped
from retour_notifications.adapters.metrics import NotificationMetrics
from retour_notifications.adapters.pg_queue import PgDeliveryQueue
from retour_notifications.domain.delivery import (
    CANCELLED,
    Claimed,
    DeliveryRetryPolicy,
    Outcome,
    Status,
)
from retour_notifications.domain.rules import Channel
from retour_notifications.usecases.ports import Gateway
from retour_notifications.usecases.send import deliver

log = structlog.stdlib.get_logger(__name__)

DB_BACKOFF_CAP_SECONDS = 30.0


class ChannelSender:
    def __init__(
        self,
        channel: Channel,
        *,
        queue: PgDeliveryQueue,
        gateway: Gateway,
        policy: DeliveryRetryPolicy,
        metrics: NotificationMetrics,
        workers: int,
        poll_seconds: float,
        per_second: float | None = None,
    ) -> None:
        self.channel = channel
        self._queue = queue
        self._gateway = gateway
        self._policy = policy
        self._metrics = metrics
        self._workers = workers
        self._poll_seconds = poll_seconds
        self._per_second = per_second

    @property
    def name(self) -> str:
        return f"{self.channel}-sender"

    async def run(self, stopping: asyncio.Event) -> None:
        """Until ``stopping`` is set; each worker then finishes the message in hand."""
        async with asyncio.TaskGroup() as group:
            for number in range(self._workers):
                group.create_task(self._work(stopping), name=f"{self.channel}-sender-{number}")

    async def _work(self, stopping: asyncio.Event) -> None:
        failures = 0
        while not stopping.is_set():
            try:
                worked = await self._send_one(stopping)
                failures = 0
            except Exception as error:  # Postgres unreachable, typically: wait, never die
                failures += 1
                log.warning("sender cannot reach the ledger", error=type(error).__name__)
                worked = False
            if not worked:
                # An idle queue is polled every poll_seconds; a ledger that cannot be reached
                # is tried less and less often, up to 64 polls apart.
                cap = min(self._poll_seconds * 64, DB_BACKOFF_CAP_SECONDS)
                delay = exponential_backoff(failures + 1, first=self._poll_seconds, cap=cap)
                await pause_unless_stopped(stopping, delay)

    async def _claim(self) -> Claimed | None:
        if self._per_second is None:
            return await self._queue.claim(self.channel)
        paced = await self._queue.claim_paced(self.channel, self._per_second)
        if paced is None:
            return None
        # The slot is ours alone, across replicas: sending before it would overrun the budget;
        # after it, never (a stop request waits for it too: the row is already `sending`).
        await asyncio.sleep(max(paced.wait_seconds, 0.0))
        return paced.claimed

    async def _send_one(self, stopping: asyncio.Event) -> bool:
        claimed = await self._claim()
        if claimed is None:
            return False
        started = time.perf_counter()
        outcome = await deliver(claimed, self._gateway, self._policy)
        self._metrics.send_duration.labels(self.channel.value).observe(
            time.perf_counter() - started
        )
        recorded = await self._settle(outcome, stopping)
        self._metrics.count_outcome(self.channel, recorded)
        log_outcome(self.channel, claimed.returnee_id, recorded)
        return True

    async def _settle(self, outcome: Outcome, stopping: asyncio.Event) -> Outcome:
        """Records the outcome; returns it as the ledger recorded it (as it came, if it was
        not recorded)."""
        # The message is already with the gateway (or refused by it): recording that must
        # outlast a Postgres blip, or the row would end up failed as "interrupted".
        failures = 0
        while True:
            try:
                status = await self._queue.settle(outcome)
                if status is None:
                    log.warning("claim lost before its outcome was recorded", channel=self.channel)
                    return outcome
                return outcome.as_recorded(status)
            except Exception as error:
                failures += 1
                if stopping.is_set() and failures > 3:
                    log.error("outcome not recorded", error=type(error).__name__)
                    return outcome
                await asyncio.sleep(
                    exponential_backoff(failures + 1, first=0.2, cap=DB_BACKOFF_CAP_SECONDS)
                )


def log_outcome(channel: Channel, returnee_id: object, outcome: Outcome) -> None:
    fields = {
        "channel": channel.value,
        "notification_id": str(outcome.notification_id),
        "returnee_id": str(returnee_id),
        "attempt": outcome.attempt,
    }
    if outcome.reason == CANCELLED:
        log.info("notification cancelled while at the gateway, which did not take it", **fields)
    elif outcome.status is Status.SENT:
        log.info("notification sent", **fields)
    elif outcome.status is Status.FAILED:
        log.warning("notification failed", reason=outcome.reason, error=outcome.error, **fields)
    elif outcome.status is Status.UNCERTAIN:
        log.warning(
            "notification outcome unknown, not resent: waiting for its delivery report",
            error=outcome.error,
            **fields,
        )
    else:
        retry_in = (outcome.retry_after or timedelta(0)).total_seconds()
        log.info("notification will be retried", error=outcome.error, retry_in_s=retry_in, **fields)
