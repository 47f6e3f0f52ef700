"""Issue 4 acceptance: registrations become cases exactly once, whatever happens to the consumer.

Each test produces registrations, as intake would, to a private copy of returnee.registered
(with its own .dlq), so it starts from a known point and leaves the real topic alone; the
service reads it through its RETURNEE_REGISTERED_TOPIC setting, under a consumer group of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Sequence
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client import CollectorRegistry

from retour_contracts import RETURNEE_REGISTERED_V1, build_envelope
from retour_contracts.examples import example_returnee_registered
from retour_kit.db import Database
from retour_kit.migrations import migrate
from retour_reintegration.main import INBOX_CONSUMER, MIGRATIONS_PACKAGE, SCHEMA, build_consumer
from retour_reintegration.settings import Settings
from retour_test_infra import Infra, RunningConsumer, eventually, read_topic, scratch_topic

pytestmark = pytest.mark.integration

PARTITIONS = 6
# The console script the package installs, next to this interpreter.
SERVICE_COMMAND = str(Path(sys.executable).with_name("retour-reintegration"))
Record = tuple[bytes, bytes | None, list[tuple[str, bytes]]]


@dataclass(frozen=True)
class Registrations:
    """Registration records produced to a private topic, and what they should become."""

    topic: str
    records: list[Record]

    @property
    def returnee_ids(self) -> list[UUID]:
        return [UUID(key.decode()) for key, _, _ in self.records]

    @property
    def event_ids(self) -> list[UUID]:
        return [UUID(dict(headers)["ce_id"].decode()) for _, _, headers in self.records]


@pytest.fixture(scope="module")
async def database(infra: Infra) -> AsyncIterator[Database]:
    await migrate(infra.dsn("reintegration"), schema=SCHEMA, package=MIGRATIONS_PACKAGE)
    database = Database(infra.dsn("reintegration"), schema=SCHEMA)
    await database.open(min_size=1, max_size=4)
    yield database
    await database.close()


@pytest.fixture
async def topic(infra: Infra) -> AsyncIterator[str]:
    async with scratch_topic(
        infra, "reintegration.registered", partitions=PARTITIONS, dead_letters=True
    ) as name:
        yield name


def registration_records(count: int) -> list[Record]:
    records: list[Record] = []
    for _ in range(count):
        event = example_returnee_registered(returnee_id=uuid.uuid4())
        envelope = build_envelope(RETURNEE_REGISTERED_V1, event, source="/intake")
        records.append((envelope.key, envelope.value, envelope.headers))
    return records


async def produce(bootstrap: str, topic: str, records: Sequence[Record]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        sent = [
            await producer.send(topic, value, key=key, headers=headers)
            for key, value, headers in records
        ]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


async def register(infra: Infra, topic: str, count: int) -> Registrations:
    registrations = Registrations(topic, registration_records(count))
    await produce(infra.kafka_bootstrap, topic, registrations.records)
    return registrations


def settings(infra: Infra, topic: str, group: str | None = None) -> Settings:
    return Settings(
        database_url=infra.dsn("reintegration"),
        auth_jwt_secret=infra.jwt_secret,
        kafka_bootstrap_servers=infra.kafka_bootstrap,
        returnee_registered_topic=topic,
        consumer_group=group or f"test-{uuid.uuid4().hex[:8]}",
    )


class Consuming(RunningConsumer):
    """The service's registrations consumer, built by its composition root, run as a task."""

    def __init__(self, settings: Settings, database: Database) -> None:
        self.group = settings.consumer_group
        registry = CollectorRegistry()
        super().__init__(
            build_consumer(settings, database, registry),
            registry,
            group=settings.consumer_group,
            topic=settings.returnee_registered_topic,
        )

    def settled(self) -> float:
        """Records applied, skipped as duplicates or dead-lettered so far."""
        total = self.metric("consumer_events_processed_total")
        total += self.metric("consumer_duplicates_total")
        for family in self.registry.collect():
            for sample in family.samples:
                if sample.name == "consumer_dead_lettered_total":
                    total += sample.value
        return total


async def cases_of(database: Database, registrations: Registrations) -> list[asyncpg.Record]:
    return list(
        await database.pool.fetch(
            "SELECT returnee_id, opened_at FROM cases WHERE returnee_id = ANY($1::uuid[])"
            " ORDER BY returnee_id",
            registrations.returnee_ids,
        )
    )


async def inbox_rows(database: Database, registrations: Registrations) -> int:
    return int(
        await database.pool.fetchval(
            "SELECT count(*) FROM inbox WHERE consumer = $1 AND event_id = ANY($2::uuid[])",
            INBOX_CONSUMER,
            registrations.event_ids,
        )
    )


async def test_500_registrations_open_500_cases_and_a_replay_changes_nothing(
    infra: Infra, topic: str, database: Database
) -> None:
    registrations = await register(infra, topic, 500)

    async with Consuming(settings(infra, topic), database) as first:
        await eventually(first.settled, until=lambda n: n == 500, what="500 records settled")
    opened = await cases_of(database, registrations)

    # A replay: a new group reads the same 500 events from the beginning.
    async with Consuming(settings(infra, topic), database) as replay:
        await eventually(replay.settled, until=lambda n: n == 500, what="500 records replayed")

    assert len(opened) == 500
    assert await cases_of(database, registrations) == opened  # not one row touched
    assert await inbox_rows(database, registrations) == 500
    assert first.metric("consumer_events_processed_total") == 500
    assert replay.metric("consumer_duplicates_total") == 500
    assert replay.metric("consumer_events_processed_total") == 0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def applied_count(database: Database, registrations: Registrations) -> int:
    return int(
        await database.pool.fetchval(
            "SELECT count(*) FROM cases WHERE returnee_id = ANY($1::uuid[])",
            registrations.returnee_ids,
        )
    )


async def committed_offsets(bootstrap: str, group: str, topic: str) -> int:
    """The records of ``topic`` that ``group`` has committed, over every partition.

    Only ``topic``'s: the service's group also reads the stack's other topics (updates,
    merges...), whose offsets it commits first and which say nothing about this stream."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return sum(max(meta.offset, 0) for tp, meta in offsets.items() if tp.topic == topic)


async def test_a_consumer_killed_mid_stream_loses_nothing_and_applies_nothing_twice(
    infra: Infra, topic: str, database: Database
) -> None:
    # The consumer applies thousands of events a second, 2,000 per poll: a backlog produced
    # in advance could be gone before the kill. So the stream keeps flowing while it runs:
    # a head first, the rest in chunks once the service is applying, and the kill lands as
    # soon as 300 cases are open, with records still arriving and in flight.
    total, head, chunk = 12_000, 2_000, 500
    registrations = Registrations(topic, registration_records(total))
    await produce(infra.kafka_bootstrap, topic, registrations.records[:head])
    group = f"test-kill-{uuid.uuid4().hex[:8]}"
    service = await asyncio.create_subprocess_exec(
        SERVICE_COMMAND,
        "serve",
        env={
            **os.environ,
            "DATABASE_URL": infra.dsn("reintegration"),
            "AUTH_JWT_SECRET": infra.jwt_secret,
            "KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap,
            "RETURNEE_REGISTERED_TOPIC": topic,
            "CONSUMER_GROUP": group,
            # The restart below waits this long for the killed member to be declared dead.
            "CONSUMER_SESSION_TIMEOUT_MS": "6000",
            "HTTP_PORT": str(free_port()),
            "LOG_LEVEL": "WARNING",
        },
    )

    def applied() -> Awaitable[int]:
        return applied_count(database, registrations)

    async def keep_producing() -> None:
        await eventually(applied, what="a first case opened by the service")
        records = registrations.records
        for start in range(head, total, chunk):
            await produce(infra.kafka_bootstrap, topic, records[start : start + chunk])

    stream = asyncio.create_task(keep_producing())
    try:
        await eventually(applied, until=lambda n: n >= 300, what="300 cases opened")
        # ... and an offset committed: the restart below must resume from the dead process's
        # offsets, which a kill between its first transaction and its first commit would not
        # test (each case now also queues its visits, so a batch takes longer).
        await eventually(
            lambda: committed_offsets(infra.kafka_bootstrap, group, topic),
            until=lambda committed: committed > 0,
            what="an offset committed by the service",
        )
        service.send_signal(signal.SIGKILL)
        async with asyncio.timeout(10):
            await service.wait()
        before_restart = await applied_count(database, registrations)
        await stream
    finally:
        stream.cancel()
        with contextlib.suppress(ProcessLookupError):
            service.kill()
        await service.wait()
    assert before_restart < total, "killed too late to interrupt the stream"

    # Restarted under the same group, it resumes from the offsets the dead process committed.
    async with Consuming(settings(infra, topic, group), database) as restarted:
        await eventually(applied, until=lambda n: n == total, what=f"{total} cases opened")

    assert len(await cases_of(database, registrations)) == total
    assert await inbox_rows(database, registrations) == total
    assert restarted.metric("consumer_records_consumed_total") < total
    # Events the dead process applied but had not acknowledged come back, and are skipped.
    assert restarted.metric("consumer_events_processed_total") == total - before_restart


def malformed_records(count: int) -> list[Record]:
    """Broken in the ways producers break records: bad JSON, bad data, bad envelope."""
    records: list[Record] = []
    for n, (key, value, headers) in enumerate(registration_records(count)):
        kind = n % 4
        if kind == 0:
            records.append((key, b'{"returnee_id": ', headers))
        elif kind == 1:
            assert value is not None
            records.append(
                (key, value.replace(b'"household_size":4', b'"household_size":0'), headers)
            )
        elif kind == 2:
            newer = [
                (h, b"org.retour.returnee.registered.v3" if h == "ce_type" else v)
                for h, v in headers
            ]
            records.append((key, value, newer))
        else:
            records.append((key, value, [(h, v) for h, v in headers if h != "ce_id"]))
    return records


async def test_malformed_records_go_to_the_dlq_and_no_partition_stalls(
    infra: Infra, topic: str, database: Database
) -> None:
    valid = Registrations(topic, registration_records(1000))
    malformed = malformed_records(100)
    mixed = list(valid.records)
    for n, record in enumerate(malformed):
        mixed.insert(n * 11, record)  # spread through the stream, so across partitions
    await produce(infra.kafka_bootstrap, topic, mixed)

    async with Consuming(settings(infra, topic), database) as consuming:
        await eventually(consuming.settled, until=lambda n: n == 1100, what="1100 records settled")

        def lags() -> dict[str, float]:
            return {
                s.labels["partition"]: s.value
                for family in consuming.registry.collect()
                for s in family.samples
                if s.name == "consumer_lag"
            }

        # Every partition reports, and none has records left to read.
        await eventually(
            lags,
            until=lambda lags: len(lags) == PARTITIONS and not any(lags.values()),
            within=5,
            what=f"a consumer_lag of 0 on each of the {PARTITIONS} partitions",
        )

    assert len(await cases_of(database, valid)) == 1000
    dead = await read_topic(infra.kafka_bootstrap, f"{topic}.dlq", 100)
    assert len(dead) == 100
    codes: Counter[str] = Counter()
    for record in dead:
        headers = dict(record.headers)
        assert headers["dlq_reason"] and headers["dlq_original_topic"] == topic.encode()
        assert int(headers["dlq_original_partition"]) in range(PARTITIONS)
        codes[headers["dlq_code"].decode()] += 1
    assert codes == {
        "invalid_json": 25,
        "schema_violation": 25,
        "unknown_schema_version": 25,
        "missing_header": 25,
    }
    assert await committed(infra.kafka_bootstrap, consuming.group, topic) == await end_offsets(
        infra.kafka_bootstrap, topic
    )


async def committed(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return {tp.partition: meta.offset for tp, meta in offsets.items() if tp.topic == topic}


async def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in range(PARTITIONS)])
    finally:
        await consumer.stop()
    return {tp.partition: offset for tp, offset in ends.items() if offset > 0}
