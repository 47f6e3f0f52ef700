"""Applies the records of one partition, fetched together, and decides the fate of each.

Every record ends in exactly one of three states before the consumer commits the offset past
it: applied (its inbox row and its effects committed in one transaction), skipped as already
applied (its inbox row existed), or dead-lettered (acknowledged by the DLQ topic). Anything
else (an outage, a crash, a stop) leaves the offset where it was, so the record comes back.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any

import asyncpg
import structlog

from retour_contracts import EnvelopeError
from retour_contracts.dlq import HANDLER_ERROR
from retour_kit.consuming.dead_letters import DeadLetterPublisher
from retour_kit.consuming.deliveries import (
    Delivery,
    describe_unreadable,
    first_of_each,
    parse_record,
)
from retour_kit.consuming.failures import is_outage
from retour_kit.consuming.handlers import HandleBatch
from retour_kit.consuming.inbox import claim_new_events
from retour_kit.consuming.metrics import ConsumerMetrics
from retour_kit.consuming.patience import OutageBackoff, pause
from retour_kit.consuming.settings import ConsumerSettings, Subscription
from retour_kit.logging import bound_event_context
from retour_kit.safe_errors import describe_error

log = structlog.stdlib.get_logger(__name__)

PoolSource = Callable[[], asyncpg.Pool]


class BatchProcessor:
    def __init__(
        self,
        settings: ConsumerSettings,
        *,
        pool: PoolSource,
        handler: HandleBatch,
        dead_letters: DeadLetterPublisher,
        metrics: ConsumerMetrics | None,
        stopping: asyncio.Event,
    ) -> None:
        self._settings = settings
        self._pool = pool
        self._handler = handler
        self._dead_letters = dead_letters
        self._metrics = metrics
        self._stopping = stopping
        self._group = settings.group_id

    async def process(self, records: Sequence[Any]) -> None:
        """Applies, skips or dead-letters every record; returns when the offset may move."""
        subscription = self._settings.subscription_for(records[0].topic)
        self._count("consumed", subscription, len(records))
        deliveries: list[Delivery] = []
        for record in records:
            try:
                deliveries.append(parse_record(subscription, record))
            except Exception as error:
                code = error.code if isinstance(error, EnvelopeError) else "unreadable_record"
                await self._dead_letter(subscription, record, describe_unreadable(error), code)
        if deliveries:
            await self._apply(subscription, deliveries)

    async def _apply(self, subscription: Subscription, deliveries: list[Delivery]) -> None:
        # The common case is one transaction for the whole batch. When the handler fails, the
        # culprit is unknown, so each event is then applied alone: the good ones commit, the
        # bad one is retried and dead-lettered by itself.
        outage = self._outage_backoff()
        while True:
            try:
                await self._apply_together(subscription, deliveries)
            except Exception as error:
                if await self._is_outage(error):
                    await outage.wait(error, topic=subscription.kafka_topic, operation="apply")
                    continue
                self._count("handler_failures", subscription)
                log.warning(
                    "batch failed, applying its events one by one",
                    topic=subscription.kafka_topic,
                    events=len(deliveries),
                    error=describe_error(error),
                )
                break
            outage.recovered()
            return
        already_failed = 1 if len(deliveries) == 1 else 0
        for delivery in deliveries:
            await self._apply_alone(subscription, delivery, already_failed)

    async def _apply_alone(
        self, subscription: Subscription, delivery: Delivery, failed_attempts: int
    ) -> None:
        outage = self._outage_backoff()
        retry = self._settings.retry
        with bound_event_context(event_id=str(delivery.event_id), trace_id=delivery.trace_id):
            while True:
                try:
                    await self._apply_together(subscription, [delivery])
                except Exception as error:
                    if await self._is_outage(error):
                        await outage.wait(error, topic=subscription.kafka_topic, operation="apply")
                        continue
                    failed_attempts += 1
                    self._count("handler_failures", subscription)
                    if failed_attempts >= retry.handler_attempts:
                        reason = describe_error(error)
                        await self._dead_letter(
                            subscription, delivery.record, reason, HANDLER_ERROR
                        )
                        return
                    await pause(self._stopping, retry.handler_pause(failed_attempts))
                    continue
                outage.recovered()
                return

    async def _apply_together(self, subscription: Subscription, deliveries: list[Delivery]) -> None:
        async with self._pool().acquire() as conn, conn.transaction():
            new_ids = await claim_new_events(
                conn, self._settings.inbox_name, [d.event_id for d in deliveries]
            )
            fresh = first_of_each(deliveries, new_ids)
            elapsed = 0.0
            if fresh:
                started = time.perf_counter()
                await self._handler(conn, [d.parsed for d in fresh])
                elapsed = time.perf_counter() - started
        # Counted only once committed: a rolled-back attempt applied nothing.
        self._count("processed", subscription, len(fresh))
        self._count("duplicates", subscription, len(deliveries) - len(fresh))
        if fresh and self._metrics:
            self._metrics.handler_duration.labels(self._group, subscription.kafka_topic).observe(
                elapsed
            )

    async def _dead_letter(
        self, subscription: Subscription, record: Any, reason: str, code: str
    ) -> None:
        outage = self._outage_backoff()
        while True:
            try:
                await self._dead_letters.publish(
                    record, dlq_topic=subscription.dlq_topic, reason=reason, code=code
                )
            except Exception as error:
                # Whatever stops the DLQ from taking the record, skipping it would lose it.
                await outage.wait(error, topic=subscription.kafka_topic, operation="dead-letter")
                continue
            outage.recovered()
            break
        if self._metrics:
            self._metrics.dead_lettered.labels(self._group, subscription.kafka_topic, code).inc()
        log.warning(
            "record dead-lettered",
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            code=code,
            reason=reason,
        )

    async def _is_outage(self, error: BaseException) -> bool:
        if is_outage(error):
            return True
        # A statement can fail in ways that look like the handler's fault (a closed connection
        # surfacing as a protocol error) when the server went away mid-transaction; asking
        # Postgres directly keeps such batches out of the dead-letter topic.
        try:
            async with asyncio.timeout(5.0):
                await self._pool().fetchval("SELECT 1")
        except Exception:
            return True
        return False

    def _outage_backoff(self) -> OutageBackoff:
        return OutageBackoff(
            retry=self._settings.retry,
            stopping=self._stopping,
            group=self._group,
            metrics=self._metrics,
        )

    def _count(self, counter: str, subscription: Subscription, amount: int = 1) -> None:
        if self._metrics and amount:
            metric = getattr(self._metrics, counter)
            metric.labels(self._group, subscription.kafka_topic).inc(amount)
