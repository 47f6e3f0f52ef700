"""The services' real consumer paths, each fed the same pre-filled topic as the ceiling."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from bench.common import Stack, Timer


async def committed_everything(kafka: str, group: str, topic: str) -> bool:
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka)
    probe = AIOKafkaConsumer(bootstrap_servers=kafka, enable_auto_commit=False)
    await admin.start()
    await probe.start()
    try:
        [description] = await admin.describe_topics([topic])
        partitions = [TopicPartition(topic, p["partition"]) for p in description["partitions"]]
        ends = await probe.end_offsets(partitions)
        committed = await admin.list_consumer_group_offsets(group)
        return all(tp in committed and committed[tp].offset >= ends[tp] for tp in partitions)
    finally:
        await probe.stop()
        await admin.close()


async def time_until_drained(
    start: Callable[[], Awaitable[Callable[[], Awaitable[None]]]],
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


async def reintegration(stack: Stack, topic: str, expected: int) -> float:
    from prometheus_client import CollectorRegistry

    from retour_kit.db import Database
    from retour_reintegration.main import SCHEMA, build_consumer
    from retour_reintegration.settings import Settings

    group = f"bench-reintegration-{uuid.uuid4().hex[:8]}"
    settings = Settings(
        database_url=stack.dsns["reintegration"],
        auth_jwt_secret=stack.jwt_secret,
        kafka_bootstrap_servers=stack.kafka,
        registrations_topic=topic,
        consumer_group=group,
        migrate_on_start=False,
    )
    database = Database(settings.database_url, schema=SCHEMA)

    async def start() -> Callable[[], Awaitable[None]]:
        await database.open()
        consumer = build_consumer(settings, database, CollectorRegistry())
        task = asyncio.create_task(consumer.run())

        async def stop() -> None:
            consumer.stop()
            await task
            await database.close()

        return stop

    return await time_until_drained(
        start, kafka=stack.kafka, group=group, topic=topic, expected=expected
    )
