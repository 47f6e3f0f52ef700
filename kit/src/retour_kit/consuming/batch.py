"""Applies the records of one partition, fetched together, and decides the fate of each.

Every record ends in exactly one of three states before the consumer commits the offset past
it: applied (its inbox row and its effects committed in one transaction), skipped as already
applied (its inbox row existed), or dead-lettered (acknowledged by the DLQ topic). Anything
else (an outage, a crash, a stop) leaves the offset where it was, so the record comes back.

Two more outcomes stop the partition at a failed record, neither dead-lettered nor passed,
and nothing after it in the partition is applied first: ``process`` returns a ``Halt`` when it
failed the way many others did (``retour_kit.consuming.systematic``: the consumer commits up
to it and pauses), or a ``Deferral`` when that cannot be told yet (``deferring``: its
partition alone waits, then the record is tried again and judged for good).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Sequence
from enum import Enum
from typing import Any

import asyncpg
import structlog

from retour_contracts import EnvelopeError
from retour_contracts.dlq import HANDLER_ERROR
from retour_kit.consuming.applying import Trial, apply_events, try_event
from retour_kit.consuming.dead_letters import DeadLetterPublisher
from retour_kit.consuming.deferring import Deferral, DeferredRecords
from retour_kit.consuming.deliveries import Delivery, describe_unreadable, parse_record
from retour_kit.consuming.failures import is_outage
from retour_kit.consuming.handlers import HandleBatch
from retour_kit.consuming.metrics import ConsumerMetrics
from retour_kit.consuming.patience import OutageBackoff, pause
from retour_kit.consuming.settings import ConsumerSettings, Subscription
from retour_kit.consuming.systematic import FailureEvidence, Halt, classify
from retour_kit.logging import bound_event_context
from retour_kit.safe_errors import describe_error

log = structlog.stdlib.get_logger(__name__)

PoolSource = Callable[[], asyncpg.Pool]
Stop = Halt | Deferral
"""Where a partition stopped, at a failed record: its offset is committed up to it, not past."""


class Verdict(Enum):
    SYSTEMATIC = "systematic"
    POISON = "poison"
    UNKNOWN = "unknown"
    """Not enough evidence either way: nothing later in hand, the threshold not reached."""


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
        self._evidence = FailureEvidence(settings.systematic)
        self._deferred = DeferredRecords(settings.systematic.window_seconds)

    async def process(self, records: Sequence[Any]) -> Stop | None:
        """Applies, skips or dead-letters every record and returns None when the offset may
        move past them all; returns the ``Halt`` or the ``Deferral`` that stopped it."""
        subscription = self._settings.subscription_for(records[0].topic)
        self._count("consumed", subscription, len(records))
        deliveries: list[Delivery] = []
        unreadable: list[tuple[Any, BaseException]] = []
        for record in records:
            try:
                deliveries.append(parse_record(subscription, record))
            except Exception as error:
                unreadable.append((record, error))
        stop = await self._apply(subscription, deliveries) if deliveries else None
        for record, problem in unreadable:
            # Past the stop the records come back after the wait: dead-lettered then, once.
            if stop is None or record.offset < stop.record.offset:
                code = problem.code if isinstance(problem, EnvelopeError) else "unreadable_record"
                await self._dead_letter(subscription, record, describe_unreadable(problem), code)
        return stop

    def forget_deferrals(self, partitions: Collection[Any]) -> None:
        """A rebalance took ``partitions``: their records are judged afresh by the next owner,
        this member included."""
        self._deferred.forget(partitions)

    async def probe(self, halt: Halt) -> bool:
        """Tries the halted record once, for real; True when the consumer may resume: it
        applied (or was applied elsewhere), or it now fails another way, which the normal
        path then judges afresh."""
        delivery = parse_record(halt.subscription, halt.record)
        try:
            await self._apply_together(halt.subscription, [delivery])
        except Exception as error:
            if await self._is_outage(error):
                return False
            self._count("handler_failures", halt.subscription)
            return classify(error) != halt.code
        return True

    async def _apply(self, subscription: Subscription, deliveries: list[Delivery]) -> Stop | None:
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
            return None
        already_failed = 1 if len(deliveries) == 1 else 0
        for position, delivery in enumerate(deliveries):
            later = deliveries[position + 1 :]
            stop = await self._apply_alone(subscription, delivery, later, already_failed)
            if stop is not None:
                return stop  # nothing after it is applied: it must not be overtaken
        return None

    async def _apply_alone(
        self,
        subscription: Subscription,
        delivery: Delivery,
        later: list[Delivery],
        failed_attempts: int,
    ) -> Stop | None:
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
                        return await self._give_up(subscription, delivery, later, error)
                    await pause(self._stopping, retry.handler_pause(failed_attempts))
                    continue
                outage.recovered()
                return None

    async def _give_up(
        self,
        subscription: Subscription,
        delivery: Delivery,
        later: list[Delivery],
        error: Exception,
    ) -> Stop | None:
        """Dead-letters the record, unless it failed like many others (then halts on it) or
        the verdict is not in yet and the record was not deferred before (then defers it)."""
        code = classify(error)
        verdict = await self._verdict(subscription, delivery, later, code)
        record = delivery.record
        if verdict is Verdict.SYSTEMATIC:
            return Halt(subscription, record, code)
        if verdict is Verdict.UNKNOWN and self._deferred.first_deferral(record):
            if self._metrics:
                self._metrics.deferred.labels(self._group, subscription.kafka_topic, code).inc()
            log.warning(
                "record failed, verdict deferred",
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                code=code,
                wait_s=self._settings.systematic.verdict_wait_seconds,
            )
            return Deferral(subscription, record, code)
        await self._dead_letter(subscription, record, describe_error(error), HANDLER_ERROR)
        return None

    async def _verdict(
        self, subscription: Subscription, failed: Delivery, later: list[Delivery], code: str
    ) -> Verdict:
        """Weighs the evidence, looking ahead in the partition when it is not enough yet.

        The records after the failing one are tried in transactions that are rolled back, so
        none of them overtakes it: one that would apply shows the failing record is poison;
        ``threshold`` failing alike show the consumer is broken. With too few records in hand
        (a quiet topic), or a later one failing another way (which stops the look-ahead: it
        would otherwise try a whole batch for every record), there is no verdict yet.
        """
        if self._evidence.failed(failed.record, code):
            return Verdict.SYSTEMATIC
        for candidate in later:
            try:
                trial = await try_event(
                    self._pool(), self._settings.inbox_name, self._handler, candidate
                )
            except Exception as error:
                if await self._is_outage(error) or classify(error) != code:
                    return Verdict.UNKNOWN
                if self._evidence.failed(candidate.record, code):
                    return Verdict.SYSTEMATIC
                continue
            if trial is Trial.PASSED:
                self._evidence.applied(subscription.kafka_topic)
                return Verdict.POISON
        return Verdict.UNKNOWN

    async def _apply_together(self, subscription: Subscription, deliveries: list[Delivery]) -> None:
        applied = await apply_events(
            self._pool(), self._settings.inbox_name, self._handler, deliveries
        )
        if applied.fresh:
            self._evidence.applied(subscription.kafka_topic)
        # Counted only once committed: a rolled-back attempt applied nothing.
        self._count("processed", subscription, applied.fresh)
        self._count("duplicates", subscription, applied.duplicates)
        if applied.fresh and self._metrics:
            self._metrics.handler_duration.labels(self._group, subscription.kafka_topic).observe(
                applied.handler_seconds
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
