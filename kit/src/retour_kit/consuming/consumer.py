"""The consumer loop: fetch, apply each partition's batch in its own transaction, commit it.

Why aiokafka's ``AIOKafkaConsumer`` directly, rather than a FastStream subscriber:
- the offsets committed are exactly ``{partition: last offset + 1}`` of the batches just
  applied, and only after their database transactions committed. FastStream's ack calls
  ``consumer.commit()`` without arguments, committing the position of every assigned
  partition at once, which aiokafka's maintainers advise against (aiokafka#933);
- a dead letter must carry the record's partition and offset, and the original bytes;
- a batch stuck in an outage must keep its offsets where they are for as long as the outage
  lasts, neither acked nor nacked.

Delivery guarantee: at-least-once from Kafka, exactly-once in effect, because the inbox rows
commit with the effects. A SIGKILL at any point loses nothing (the offset did not move past
anything uncommitted) and applies nothing twice (a redelivered event finds its inbox row).

A systematic failure (``retour_kit.consuming.systematic``) pauses every partition this member
owns: the halted partition's offset is committed up to its first failing record and its
position moved back there, so nothing is skipped, dead-lettered or overtaken. The loop keeps
polling (the group must not think the member dead) while a probe retries that record with
growing pauses; when it applies, the partitions resume. A restart forgets the pause, and the
next failures decide again.

A failed record that cannot be judged yet (``retour_kit.consuming.deferring``) stops its own
partition only, committed and positioned the same way, for ``verdict_wait_seconds``; the loop
resumes it when the wait is over, unless the consumer is paused: then with the pause.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Collection, Coroutine
from typing import Any

import asyncpg
import structlog
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import CommitFailedError, IllegalStateError

from retour_kit.consuming.batch import BatchProcessor
from retour_kit.consuming.dead_letters import DeadLetterPublisher
from retour_kit.consuming.deferring import HeldPartitions
from retour_kit.consuming.handlers import HandleBatch
from retour_kit.consuming.metrics import ConsumerMetrics
from retour_kit.consuming.partitions import FinishBatchBeforeRevoke, LagReporter
from retour_kit.consuming.patience import ConsumerStopped, pause
from retour_kit.consuming.pausing import SystematicPause
from retour_kit.consuming.settings import ConsumerSettings
from retour_kit.consuming.systematic import Halt
from retour_kit.db import Database
from retour_kit.kafka_security import kafka_options
from retour_kit.safe_errors import describe_error

log = structlog.stdlib.get_logger(__name__)


class EventConsumer:
    """Consumes ``settings.subscriptions`` into ``handler``; run ``run()`` as a task.

    Args:
        settings: Topics, group and retry policy.
        database: Where the inbox and the handler's tables live; a ``Database`` is resolved
            when the first batch arrives, so the consumer can be built before the pool opens.
        handler: Applies new events inside the batch's transaction.
        metrics: Shared by all consumers of a service (``ConsumerMetrics.register``).
    """

    def __init__(
        self,
        settings: ConsumerSettings,
        *,
        database: Database | asyncpg.Pool,
        handler: HandleBatch,
        metrics: ConsumerMetrics | None = None,
    ) -> None:
        self._settings = settings
        self._database = database
        self._metrics = metrics
        self._stopping = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        client_id = settings.client_id or f"{settings.inbox_name}-consumer"
        self._dead_letters = DeadLetterPublisher(
            settings.bootstrap_servers,
            consumer_name=settings.inbox_name,
            client_id=f"{client_id}-dlq",
        )
        self._processor = BatchProcessor(
            settings,
            pool=self._pool,
            handler=handler,
            dead_letters=self._dead_letters,
            metrics=metrics,
            stopping=self._stopping,
        )
        self._lag = LagReporter(settings.group_id, metrics, settings.lag_report_interval_seconds)
        self._held = HeldPartitions(settings.systematic.verdict_wait_seconds)
        self._pause = SystematicPause(settings, self._processor, self._held, metrics)

    @property
    def settings(self) -> ConsumerSettings:
        return self._settings

    @property
    def paused_reason(self) -> str | None:
        """``paused: systematic failure <code>`` while paused, else None (for /readyz)."""
        return self._pause.reason

    def stop(self) -> None:
        """Asks ``run()`` to return once the partition batch in progress has committed."""
        self._stopping.set()

    async def run(self) -> None:
        """Consumes until ``stop()``; a failure of the Kafka client restarts it after a pause."""
        failures = 0
        try:
            while not self._stopping.is_set():
                try:
                    await self._consume()
                except ConsumerStopped:
                    break
                except Exception as error:
                    # Kafka unreachable at start, a non-retriable commit error, a bug: the
                    # uncommitted records come back after the restart and the inbox skips
                    # what was applied.
                    failures += 1
                    delay = self._settings.retry.outage_pause(failures)
                    log.warning(
                        "consumer failed, restarting",
                        group=self._settings.group_id,
                        error=type(error).__name__,
                        detail=describe_error(error, max_length=200),
                        retry_in_s=round(delay, 2),
                    )
                    with contextlib.suppress(ConsumerStopped):
                        await pause(self._stopping, delay)
                else:
                    failures = 0
        finally:
            await asyncio.shield(self._dead_letters.close())

    async def _consume(self) -> None:
        consumer = await self._started_consumer()
        log.info("consumer started", group=self._settings.group_id, topics=self._topics)
        try:
            while not self._stopping.is_set():
                if self._pause.active:
                    await self._pause.hold_or_resume(consumer)
                if not self._pause.active:
                    self._held.release_due(consumer)
                batches = await consumer.getmany(
                    timeout_ms=self._settings.poll_timeout_ms,
                    max_records=self._settings.max_records,
                )
                await self._process_poll(consumer, batches)
                await self._lag.report(consumer)
        finally:
            await asyncio.shield(consumer.stop())
            log.info("consumer stopped", group=self._settings.group_id)

    async def _process_poll(
        self, consumer: AIOKafkaConsumer, batches: dict[Any, list[Any]]
    ) -> None:
        """Applies one fetch, each partition's batch committed as soon as it is applied.

        Partitions of one topic hold different people (the key, a returnee id, picks the
        partition), so their batches run side by side, each in its own transaction on its own
        pooled connection: the database round trips of one overlap the others'. Topics run one
        after another, so one member never applies two events about the same person at once.
        """
        by_topic: dict[str, dict[Any, list[Any]]] = {}
        for partition, records in batches.items():
            by_topic.setdefault(partition.topic, {})[partition] = records
        self._idle.clear()
        try:
            for partitions in by_topic.values():
                if self._stopping.is_set():
                    break  # a graceful stop finishes the batches in progress, no more
                if self._pause.active:
                    # Fetched before the pause, or assigned by a rebalance during the poll:
                    # they wait with the rest, from their first record.
                    _rewind(consumer, partitions)
                    continue
                await _all_of(
                    [
                        self._process_partition(consumer, partition, records)
                        for partition, records in partitions.items()
                    ]
                )
        finally:
            self._idle.set()

    async def _process_partition(
        self, consumer: AIOKafkaConsumer, partition: Any, records: list[Any]
    ) -> None:
        if partition not in consumer.assignment():
            return  # revoked by a rebalance after the fetch: its next owner gets the records
        stop = await self._processor.process(records)
        if stop is None:
            # Committed at once, not with the rest of the fetch: a crash loses as little as can be.
            await self._commit(
                consumer, {partition: await _applied_up_to(consumer, partition, records)}
            )
            return
        # Up to the failing record, not past it; and it is fetched again after the wait.
        await self._commit(consumer, {partition: stop.record.offset})
        if partition in consumer.assignment():  # else its next owner starts from the commit
            consumer.seek(partition, stop.record.offset)
        if isinstance(stop, Halt):
            self._pause.begin(consumer, stop)
        else:
            self._held.hold(consumer, partition)

    async def _commit(self, consumer: AIOKafkaConsumer, offsets: dict[Any, int]) -> None:
        try:
            await consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as error:
            # The group rebalanced and the partitions may belong to another member now. The
            # effects are committed with their inbox rows, so the redelivery changes nothing.
            log.warning(
                "offsets not committed, partitions reassigned",
                partitions=[f"{p.topic}:{p.partition}" for p in offsets],
                error=type(error).__name__,
            )

    async def _started_consumer(self) -> AIOKafkaConsumer:
        settings = self._settings
        consumer = AIOKafkaConsumer(
            **kafka_options(settings.bootstrap_servers),
            group_id=settings.group_id,
            client_id=settings.client_id or f"{settings.inbox_name}-consumer",
            # Offsets are committed by hand, per partition, after the transaction commits.
            enable_auto_commit=False,
            # Only records of committed transactions: the outbox relay publishes through a
            # transactional producer, whose aborted writes must never be applied.
            isolation_level="read_committed",
            # A new group (a first deploy, a replay) starts from the beginning of the topic;
            # "latest" would silently skip every event produced before it joined.
            auto_offset_reset="earliest",
            session_timeout_ms=settings.session_timeout_ms,
            heartbeat_interval_ms=settings.heartbeat_interval_ms,
            max_poll_interval_ms=settings.max_poll_interval_ms,
        )
        consumer.subscribe(
            topics=self._topics,
            listener=FinishBatchBeforeRevoke(
                self._idle, settings.revoke_wait_seconds, forget=self._forget_partitions
            ),
        )
        try:
            await consumer.start()
        except BaseException:
            await consumer.stop()
            raise
        return consumer

    def _forget_partitions(self, revoked: Collection[Any]) -> None:
        """A rebalance took them: no deferral survives it (see ``deferring``)."""
        self._held.forget(revoked)
        self._processor.forget_deferrals(revoked)

    @property
    def _topics(self) -> list[str]:
        return [s.kafka_topic for s in self._settings.subscriptions]

    def _pool(self) -> asyncpg.Pool:
        return self._database.pool if isinstance(self._database, Database) else self._database


def _rewind(consumer: AIOKafkaConsumer, batches: dict[Any, list[Any]]) -> None:
    for partition, records in batches.items():
        if partition in consumer.assignment():
            consumer.seek(partition, records[0].offset)


async def _all_of(work: list[Coroutine[Any, Any, None]]) -> None:
    """Runs `work` concurrently; on the first failure cancels the rest, then re-raises it as is
    (ConsumerStopped must reach the loop unwrapped, which a TaskGroup would not do)."""
    tasks = [asyncio.create_task(coroutine) for coroutine in work]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


async def _applied_up_to(consumer: AIOKafkaConsumer, partition: Any, records: list[Any]) -> int:
    """The offset to commit once ``records`` are applied: past them, and past the transaction
    markers and aborted records the fetcher skipped after them.

    The outbox relay publishes in Kafka transactions, and each commit writes a marker that
    takes an offset but is never returned. Committing only ``last offset + 1`` would leave
    every partition one short of its end, so lag would never read 0 and a rebuild waiting
    for committed == end would never finish. The position is the fetcher's next offset:
    between the last record and it there are only skipped control or aborted records (the
    loop applies one fetch before polling again), so nothing unapplied is committed.
    """
    after_last: int = records[-1].offset + 1
    if partition not in consumer.assignment():
        return after_last
    position: int = await consumer.position(partition)
    return max(after_last, position)
