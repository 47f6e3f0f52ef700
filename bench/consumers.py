"""The services' real consumer paths, each fed the same pre-filled topic as the ceiling."""

from __future__ import annotations

import asyncio
import importlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client import CollectorRegistry

from bench.common import Stack, Timer, private_topic, scratch_copy
from retour_kit.consuming import EventConsumer
from retour_kit.db import Database
from retour_kit.kafka_security import kafka_options
from retour_kit.topic_reading import partitions_of

S = TypeVar("S")
Stop = Callable[[], Awaitable[None]]
Start = Callable[[], Awaitable[Stop]]
"""Starts a consumer; what it returns stops it."""


class OffsetsWatch:
    """Whether consumer groups have committed the end of topics, asked through one admin
    client and one probe consumer kept open for the whole wait: opening them for each check
    (a SASL/SCRAM handshake each, ten times a second) would take the CPU from the consumer
    being timed, on the same two cores."""

    def __init__(self, kafka: str) -> None:
        self._admin = AIOKafkaAdminClient(**kafka_options(kafka))
        self._probe = AIOKafkaConsumer(**kafka_options(kafka), enable_auto_commit=False)
        self._kafka = kafka
        self._partitions: dict[str, list[TopicPartition]] = {}

    async def __aenter__(self) -> OffsetsWatch:
        await self._admin.start()
        await self._probe.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._probe.stop()
        await self._admin.close()

    async def committed_everything(self, group: str, topic: str) -> bool:
        if topic not in self._partitions:
            self._partitions[topic] = await partitions_of(self._kafka, topic)
        partitions = self._partitions[topic]
        ends = await self._probe.end_offsets(partitions)
        committed = await self._admin.list_consumer_group_offsets(group)
        if all(tp in committed and committed[tp].offset >= ends[tp] for tp in partitions):
            return True
        # A partition that holds no message (nothing ever written, or all of it deleted) gets
        # no committed offset from the group: there is nothing for it to consume.
        starts = await self._probe.beginning_offsets(partitions)
        return all(
            starts[tp] >= ends[tp] or (tp in committed and committed[tp].offset >= ends[tp])
            for tp in partitions
        )


async def time_until_drained(
    start: Start,
    *,
    kafka: str,
    group: str,
    topic: str,
    expected: int,
) -> float:
    """Events per second from starting a consumer to its group having committed the topic's end."""
    async with OffsetsWatch(kafka) as watch:
        with Timer() as timer:
            stop = await start()
            try:
                drained = False
                while not drained:
                    await asyncio.sleep(0.1)
                    drained = await watch.committed_everything(group, topic)
            finally:
                await stop()
    return expected / timer.seconds


def _running(database: Database, build: Callable[[], EventConsumer]) -> Start:
    """A `start` for time_until_drained: open the pool, run the consumer; `stop` undoes both."""

    async def start() -> Stop:
        await database.open()
        consumer = build()
        task = asyncio.create_task(consumer.run())

        async def stop() -> None:
            consumer.stop()
            await task
            await database.close()

        return stop

    return start


@dataclass(frozen=True)
class ScratchRun:
    """What a consumer measured into a scratch schema reads and writes: ``topics`` are the
    settings of its other subscriptions, each an empty private topic."""

    service: str
    schema: str
    group: str
    topics: dict[str, Any]

    def settings(self, settings: Callable[..., S], stack: Stack, topic: str, **extra: Any) -> S:
        """The service's settings for the run: its role's database, ``topic`` for the
        registrations, the run's own consumer group, no migration (the copy is migrated)."""
        return settings(
            database_url=stack.dsns[self.service],
            auth_jwt_secret=stack.jwt_secret,
            kafka_bootstrap_servers=stack.kafka,
            returnee_registered_topic=topic,
            consumer_group=self.group,
            migrate_on_start=False,
            **self.topics,
            **extra,
        )


async def reintegration(stack: Stack, topic: str, expected: int) -> float:
    """Cases opened and their visits scheduled (follow_up.scheduled in the outbox), into a
    scratch copy of the reintegration schema whose outbox no relay reads."""
    from retour_reintegration.main import build_consumer
    from retour_reintegration.settings import Settings

    def start(run: ScratchRun) -> Start:
        settings = run.settings(Settings, stack, topic)
        database = Database(settings.database_url, schema=run.schema)
        return _running(database, lambda: build_consumer(settings, database, CollectorRegistry()))

    return await _into_scratch_copy(
        stack, topic, expected, service="reintegration", written_to="cases", start=start
    )


async def notifications(stack: Stack, topic: str, expected: int) -> float:
    """Up to the ledger: contacts kept, rules applied, messages composed and queued.

    The consumer writes into a scratch copy of the notifications schema that no sender
    reads, so the benchmark's registrations never reach Kannel or the SMTP sink.
    """
    from retour_notifications.adapters.metrics import NotificationMetrics
    from retour_notifications.main import build_consumer
    from retour_notifications.settings import Settings

    def start(run: ScratchRun) -> Start:
        settings = run.settings(Settings, stack, topic)
        database = Database(settings.database_url, schema=run.schema)
        registry = CollectorRegistry()
        metrics = NotificationMetrics.register(registry)
        return _running(database, lambda: build_consumer(settings, database, registry, metrics))

    return await _into_scratch_copy(
        stack, topic, expected, service="notifications", written_to="deliveries", start=start
    )


async def reporting(stack: Stack, topic: str, expected: int) -> float:
    """The live projection consumer (one process, the service's settings), into a scratch
    copy of the reporting schema."""
    from retour_reporting.main import build_consumer, open_database
    from retour_reporting.settings import Settings

    def start(run: ScratchRun) -> Start:
        settings = run.settings(Settings, stack, topic, database_schema=run.schema)
        database = open_database(settings)
        return _running(database, lambda: build_consumer(settings, database, CollectorRegistry()))

    return await _into_scratch_copy(
        stack, topic, expected, service="reporting", written_to="registrations", start=start
    )


async def _into_scratch_copy(
    stack: Stack,
    topic: str,
    expected: int,
    *,
    service: str,
    written_to: str,
    start: Callable[[ScratchRun], Start],
) -> float:
    """Drains `topic` with `service`'s consumer into a scratch copy of its schema; the run
    fails if `written_to` lacks rows afterwards.

    Its other subscriptions read empty private topics: the stack's own (case events, visits
    scheduled by earlier runs...) would add work of unknown size to the measured drain, and
    nothing the run writes reaches the stack's services."""
    async with (
        scratch_copy(stack, service, f"retour_{service}") as schema,
        empty_topics(stack.kafka, service) as topics,
    ):
        run = ScratchRun(service, schema, f"bench-{service}-{uuid.uuid4().hex[:8]}", topics)
        rate = await time_until_drained(
            start(run), kafka=stack.kafka, group=run.group, topic=topic, expected=expected
        )
        written = await _count(stack.admin_dsn, f"SELECT count(*) FROM {schema}.{written_to}")
    # A consumer that dropped everything would look fast: its rows must be there.
    if written < expected:
        raise RuntimeError(f"{service} wrote {written} rows to {written_to} for {expected} events")
    return rate


@asynccontextmanager
async def empty_topics(kafka: str, service: str) -> AsyncIterator[dict[str, Any]]:
    """An empty private topic for each topic setting of `service` but the registrations'."""
    settings = importlib.import_module(f"retour_{service}.settings").Settings
    names = [
        field
        for field in settings.model_fields
        if field.endswith("_topic") and field != "returnee_registered_topic"
    ]
    async with AsyncExitStack() as topics:
        yield {
            name: await topics.enter_async_context(
                private_topic(kafka, name.removesuffix("_topic"), partitions=1)
            )
            for name in names
        }


async def _count(dsn: str, query: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval(query))
    finally:
        await conn.close()
