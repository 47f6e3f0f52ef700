"""The services' real consumer paths, each fed the same pre-filled topic as the ceiling."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client import CollectorRegistry

from bench.common import Stack, Timer, private_topic, scratch_copy
from retour_kit.consuming import EventConsumer
from retour_kit.db import Database
from retour_kit.kafka_security import kafka_options
from retour_kit.topic_reading import partitions_of

Stop = Callable[[], Awaitable[None]]
Start = Callable[[], Awaitable[Stop]]
"""Starts a consumer; what it returns stops it."""


async def committed_everything(kafka: str, group: str, topic: str) -> bool:
    partitions = await partitions_of(kafka, topic)
    admin = AIOKafkaAdminClient(**kafka_options(kafka))
    probe = AIOKafkaConsumer(**kafka_options(kafka), enable_auto_commit=False)
    await admin.start()
    await probe.start()
    try:
        ends = await probe.end_offsets(partitions)
        committed = await admin.list_consumer_group_offsets(group)
        return all(tp in committed and committed[tp].offset >= ends[tp] for tp in partitions)
    finally:
        await probe.stop()
        await admin.close()


async def time_until_drained(
    start: Start,
    *,
    kafka: str,
    group: str,
    topic: str,
    expected: int,
) -> float:
    """Events per second from starting a consumer to its group having committed the topic's end."""
    with Timer() as timer:
        stop = await start()
        try:
            drained = False
            while not drained:
                await asyncio.sleep(0.1)
                drained = await committed_everything(kafka, group, topic)
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


async def reintegration(stack: Stack, topic: str, expected: int) -> float:
    from retour_reintegration.main import SCHEMA, build_consumer
    from retour_reintegration.settings import Settings

    group = f"bench-reintegration-{uuid.uuid4().hex[:8]}"
    settings = Settings(
        database_url=stack.dsns["reintegration"],
        auth_jwt_secret=stack.jwt_secret,
        kafka_bootstrap_servers=stack.kafka,
        returnee_registered_topic=topic,
        consumer_group=group,
        migrate_on_start=False,
    )
    database = Database(settings.database_url, schema=SCHEMA)
    return await time_until_drained(
        _running(database, lambda: build_consumer(settings, database, CollectorRegistry())),
        kafka=stack.kafka,
        group=group,
        topic=topic,
        expected=expected,
    )


@dataclass(frozen=True)
class ScratchRun:
    """What a consumer measured into a scratch schema reads and writes."""

    schema: str
    group: str
    aid_topic: str
    activities_topic: str


async def notifications(stack: Stack, topic: str, expected: int) -> float:
    """Up to the ledger: contacts kept, rules applied, messages composed and queued.

    The consumer writes into a scratch copy of the notifications schema that no sender
    reads, so the benchmark's registrations never reach Kannel or the SMTP sink.
    """
    from retour_notifications.adapters.metrics import NotificationMetrics
    from retour_notifications.main import build_consumer
    from retour_notifications.settings import Settings

    def start(run: ScratchRun) -> Start:
        settings = Settings(
            database_url=stack.dsns["notifications"],
            auth_jwt_secret=stack.jwt_secret,
            kafka_bootstrap_servers=stack.kafka,
            returnee_registered_topic=topic,
            aid_granted_topic=run.aid_topic,
            activity_launched_topic=run.activities_topic,
            consumer_group=run.group,
            migrate_on_start=False,
        )
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
        settings = Settings(
            database_url=stack.dsns["reporting"],
            database_schema=run.schema,
            auth_jwt_secret=stack.jwt_secret,
            kafka_bootstrap_servers=stack.kafka,
            returnee_registered_topic=topic,
            aid_granted_topic=run.aid_topic,
            activity_launched_topic=run.activities_topic,
            consumer_group=run.group,
            migrate_on_start=False,
        )
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
    """Drains `topic` with `service`'s consumer into a scratch copy of its schema (empty aid
    and activity topics beside it); the run fails if `written_to` lacks rows afterwards."""
    async with (
        private_topic(stack.kafka, "no-aid") as aid,
        private_topic(stack.kafka, "no-activities") as activities,
        scratch_copy(stack, service, f"retour_{service}") as schema,
    ):
        run = ScratchRun(schema, f"bench-{service}-{uuid.uuid4().hex[:8]}", aid, activities)
        rate = await time_until_drained(
            start(run), kafka=stack.kafka, group=run.group, topic=topic, expected=expected
        )
        written = await _count(stack.admin_dsn, f"SELECT count(*) FROM {schema}.{written_to}")
    # A consumer that dropped everything would look fast: its rows must be there.
    if written < expected:
        raise RuntimeError(f"{service} wrote {written} rows to {written_to} for {expected} events")
    return rate


async def _count(dsn: str, query: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval(query))
    finally:
        await conn.close()
