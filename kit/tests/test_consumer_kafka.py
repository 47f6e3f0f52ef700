"""EventConsumer against the real broker and database.

Each test gets a private topic (and its ``.dlq``) and a scratch schema whose ``applied`` table
has no unique key, so an event applied twice would show up as two rows.

Run as a script, this module is the consumer process that the SIGKILL test kills.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client import CollectorRegistry

from retour_contracts import RETURNEE_REGISTERED_V1, ParsedEvent, build_envelope
from retour_contracts.examples import example_returnee_registered, returnee_registered_data
from retour_kit.consuming import (
    ConsumerMetrics,
    ConsumerSettings,
    EventConsumer,
    HandleBatch,
    RetryPolicy,
    Subscription,
    TransientError,
)
from retour_kit.db import Connection, create_pool
from retour_kit.kafka_publisher import KafkaRecordPublisher
from retour_kit.outbox import OutboxRecord
from retour_test_infra import (
    Infra,
    RunningConsumer,
    eventually,
    read_topic,
    scratch_schema,
    scratch_topic,
)

pytestmark = pytest.mark.integration

TEST_INFRA_DIR = Path(__file__).resolve().parents[2] / "tests"  # retour_test_infra, for the child
Record = tuple[bytes, bytes, list[tuple[str, bytes]]]
FAST_RETRIES = RetryPolicy(
    handler_backoff_seconds=0.01, outage_backoff_seconds=0.05, outage_backoff_cap_seconds=0.2
)

SCHEMA_DDL = """
CREATE TABLE inbox (
    consumer text NOT NULL, event_id uuid NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (consumer, event_id)
);
CREATE TABLE applied (event_id uuid NOT NULL, returnee_id uuid NOT NULL);
"""


@dataclass(frozen=True)
class Stream:
    """A private topic and the scratch schema its consumer writes to."""

    bootstrap: str
    topic: str
    schema: str
    pool: asyncpg.Pool

    @property
    def dlq(self) -> str:
        return f"{self.topic}.dlq"

    def settings(self, **overrides: Any) -> ConsumerSettings:
        values: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap,
            "group_id": f"test-{uuid.uuid4().hex[:8]}",
            "consumer_name": "kit-test",
            "subscriptions": (Subscription(RETURNEE_REGISTERED_V1, topic=self.topic),),
            "retry": FAST_RETRIES,
        }
        return ConsumerSettings(**(values | overrides))

    async def applied(self) -> int:
        return int(await self.pool.fetchval("SELECT count(*) FROM applied"))

    async def applied_twice(self) -> int:
        return int(
            await self.pool.fetchval(
                "SELECT count(*) FROM (SELECT event_id FROM applied GROUP BY event_id"
                " HAVING count(*) > 1) AS twice"
            )
        )


@pytest.fixture
async def stream(infra: Infra) -> AsyncIterator[Stream]:
    async with (
        scratch_topic(infra, "consumer", dead_letters=True) as topic,
        scratch_schema(infra, "kit_consumer", SCHEMA_DDL) as schema,
    ):
        pool = await create_pool(infra.admin_dsn, search_path=schema, min_size=1, max_size=4)
        try:
            yield Stream(infra.kafka_bootstrap, topic, schema, pool)
        finally:
            await pool.close()


def registrations(count: int) -> list[Record]:
    records = []
    for _ in range(count):
        envelope = build_envelope(
            RETURNEE_REGISTERED_V1,
            example_returnee_registered(returnee_id=uuid.uuid4()),
            source="/intake",
        )
        records.append((envelope.key, envelope.value, envelope.headers))
    return records


async def produce(bootstrap: str, topic: str, records: Sequence[Record], **kw: Any) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        sent = [
            await producer.send(topic, value, key=key, headers=headers, **kw)
            for key, value, headers in records
        ]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


async def record_application(conn: Connection, events: Sequence[ParsedEvent]) -> None:
    for parsed in events:
        await conn.execute(
            "INSERT INTO applied (event_id, returnee_id) VALUES ($1, $2)",
            UUID(parsed.event_id),
            parsed.subject,
        )


class Running(RunningConsumer):
    """The stream's consumer, with ``overrides`` of its settings, running."""

    def __init__(self, stream: Stream, handler: HandleBatch, **overrides: Any) -> None:
        self.settings = stream.settings(**overrides)
        registry = CollectorRegistry()
        self.metrics = ConsumerMetrics.register(registry)
        consumer = EventConsumer(
            self.settings, database=stream.pool, handler=handler, metrics=self.metrics
        )
        super().__init__(consumer, registry, group=self.settings.group_id)

    def lags(self) -> dict[int, float]:
        """``consumer_lag`` by partition, for the partitions that have a sample."""
        return {
            int(sample.labels["partition"]): sample.value
            for family in self.registry.collect()
            for sample in family.samples
            if sample.name == "consumer_lag"
        }


async def committed_offsets(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return {tp.partition: meta.offset for tp, meta in offsets.items() if tp.topic == topic}


async def end_offsets(bootstrap: str, topic: str, partitions: int = 3) -> dict[int, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        ends = await consumer.end_offsets(tps)
    finally:
        await consumer.stop()
    return {tp.partition: offset for tp, offset in ends.items() if offset > 0}


async def test_each_event_is_applied_once_and_a_replay_changes_nothing(stream: Stream) -> None:
    await produce(stream.bootstrap, stream.topic, registrations(300))

    async with Running(stream, record_application) as first:
        await eventually(stream.applied, until=lambda n: n == 300, what="300 events applied")
    ends = await end_offsets(stream.bootstrap, stream.topic)
    assert await committed_offsets(stream.bootstrap, first.settings.group_id, stream.topic) == ends

    # A new group reads the same 300 events from the start: the inbox recognises every one.
    async with Running(stream, record_application) as replay:
        group = replay.settings.group_id
        await eventually(
            lambda: committed_offsets(stream.bootstrap, group, stream.topic),
            until=lambda committed: committed == ends,
            what=f"the replay's offsets committed up to {ends}",
        )
        # The gauge is refreshed after a poll, at most once a second: the offsets can be
        # committed while it still shows the lag of an earlier poll.
        lags = await eventually(
            replay.lags,
            until=lambda lags: len(lags) == 3 and not any(lags.values()),
            within=10,
            what="a consumer_lag of 0 on each of the 3 partitions",
        )

    assert await stream.applied() == 300
    assert await stream.applied_twice() == 0
    topic = {"topic": stream.topic}
    assert first.metric("consumer_events_processed_total", **topic) == 300
    assert replay.metric("consumer_events_processed_total", **topic) == 0
    assert replay.metric("consumer_duplicates_total", **topic) == 300
    assert replay.metric("consumer_records_consumed_total", **topic) == 300
    assert lags == {0: 0, 1: 0, 2: 0}


async def test_the_lag_gauge_reaches_zero_and_is_kept_current_while_idle(
    stream: Stream,
) -> None:
    """Operators alert on ``consumer_lag``: once the consumer has caught up and nothing more
    arrives, it must read 0 on every partition (one that never received a record included)
    and go on being refreshed, not only when records arrive."""
    records = registrations(300)
    await produce(stream.bootstrap, stream.topic, records[:150], partition=0)
    await produce(stream.bootstrap, stream.topic, records[150:], partition=1)  # 2 gets none

    async def slow_batch(conn: Connection, events: Sequence[ParsedEvent]) -> None:
        await record_application(conn, events)
        await asyncio.sleep(0.1)  # 30 polls of 10: a backlog that lasts a few report intervals

    def all_zero(lags: dict[int, float]) -> bool:
        return len(lags) == 3 and not any(lags.values())

    async with Running(stream, slow_batch, max_records=10) as running:
        behind = await eventually(
            running.lags,
            until=lambda lags: any(lags.values()),
            every=0.02,
            what="a consumer_lag above 0 while the backlog is read",
        )
        await eventually(stream.applied, until=lambda n: n == 300, what="300 events applied")
        caught_up = await eventually(
            running.lags, until=all_zero, within=10, what="a consumer_lag of 0 everywhere"
        )
        consumed = running.metric("consumer_records_consumed_total", topic=stream.topic)
        # Values left over from the backlog while nothing arrives any more: a gauge refreshed
        # only when records come would keep them for ever.
        for partition in range(3):
            labels = (running.settings.group_id, stream.topic, str(partition))
            running.metrics.lag.labels(*labels).set(50)
        refreshed = await eventually(
            running.lags, until=all_zero, within=10, what="the idle consumer's lag back to 0"
        )
        idle = running.metric("consumer_records_consumed_total", topic=stream.topic) == consumed

    assert max(behind.values()) > 0
    assert caught_up == refreshed == {0: 0, 1: 0, 2: 0}
    assert idle, "records arrived while the consumer should have been idle"


def poison_records() -> list[tuple[str, Record]]:
    """One record per way of being unreadable, with the dlq_code it must get."""
    valid = registrations(6)

    def with_header(record: Record, name: str, value: bytes | None) -> Record:
        key, body, headers = record
        kept = [(n, v) for n, v in headers if n != name]
        return key, body, kept if value is None else [*kept, (name, value)]

    key, _, headers = valid[1]
    schema_violation = json.dumps(returnee_registered_data(household_size=0))
    return [
        ("invalid_json", (valid[0][0], b"{not json", valid[0][2])),
        ("invalid_json", (valid[0][0], b"\x00\xff\x10binary", valid[0][2])),
        ("schema_violation", (key, schema_violation.encode(), headers)),
        (
            "unknown_schema_version",
            with_header(valid[2], "ce_type", b"org.retour.returnee.registered.v9"),
        ),
        ("missing_header", with_header(valid[3], "ce_id", None)),
        ("invalid_header", with_header(valid[4], "ce_id", b"not-a-uuid")),
        ("invalid_header", with_header(valid[5], "ce_time", b"\xff\xfe")),
    ]


async def test_poison_records_are_dead_lettered_and_the_partition_keeps_flowing(
    stream: Stream,
) -> None:
    poison = poison_records()
    valid = registrations(40)
    # One partition, poison spread among valid records: everything after them must flow.
    mixed: list[Record] = []
    for index, record in enumerate(valid):
        mixed.append(record)
        if index % 6 == 0 and index // 6 < len(poison):
            mixed.append(poison[index // 6][1])
    await produce(stream.bootstrap, stream.topic, mixed, partition=0)

    async with Running(stream, record_application) as running:

        def decided() -> float:
            topic = {"topic": stream.topic}
            decided = running.metric("consumer_events_processed_total", **topic)
            for code in {code for code, _ in poison}:
                decided += running.metric("consumer_dead_lettered_total", code=code, **topic)
            return decided

        await eventually(
            decided,
            until=lambda n: n == len(mixed),
            what=f"{len(mixed)} records applied or dead-lettered",
        )

    dead = await read_topic(stream.bootstrap, stream.dlq, len(poison))
    assert await stream.applied() == len(valid)
    assert len(dead) == len(poison)
    originals = {(key, value) for _, (key, value, _) in poison}
    assert {(r.key, r.value) for r in dead} == originals
    for record in dead:
        headers = dict(record.headers)
        assert headers["dlq_reason"]
        assert headers["dlq_consumer"] == b"kit-test"
        assert headers["dlq_original_topic"] == stream.topic.encode()
        assert headers["dlq_original_partition"] == b"0"
        original_offset = int(headers["dlq_original_offset"])
        assert (mixed[original_offset][0], mixed[original_offset][1]) == (record.key, record.value)
    assert sorted(dict(r.headers)["dlq_code"].decode() for r in dead) == sorted(
        code for code, _ in poison
    )
    assert await committed_offsets(stream.bootstrap, running.settings.group_id, stream.topic) == {
        0: len(mixed)
    }


async def test_a_failing_event_is_retried_alone_then_dead_lettered(stream: Stream) -> None:
    records = registrations(30)
    culprit = UUID(records[7][0].decode())
    attempts: list[UUID] = []

    async def fail_on_culprit(conn: Connection, events: Sequence[ParsedEvent]) -> None:
        if any(parsed.subject == str(culprit) for parsed in events):
            attempts.append(culprit)
            raise ValueError("case rules broken for this returnee")
        await record_application(conn, events)

    await produce(stream.bootstrap, stream.topic, records, partition=1)
    async with Running(stream, fail_on_culprit) as running:
        await eventually(
            lambda: running.metric(
                "consumer_dead_lettered_total", topic=stream.topic, code="handler_error"
            ),
            until=lambda n: n == 1,
            what="the culprit dead-lettered",
        )

    dead = await read_topic(stream.bootstrap, stream.dlq, 1)
    assert await stream.applied() == 29
    assert len(attempts) == 1 + FAST_RETRIES.handler_attempts  # the batch, then alone
    assert [r.key for r in dead] == [str(culprit).encode()]
    headers = dict(dead[0].headers)
    assert headers["dlq_code"] == b"handler_error"
    assert headers["dlq_reason"] == b"ValueError: case rules broken for this returnee"
    assert await committed_offsets(stream.bootstrap, running.settings.group_id, stream.topic) == {
        1: 30
    }


async def test_an_outage_is_waited_out_without_committing_or_dead_lettering(
    stream: Stream,
) -> None:
    await produce(stream.bootstrap, stream.topic, registrations(20), partition=2)
    outage = asyncio.Event()
    outage.set()
    calls = 0

    async def unavailable_until_cleared(conn: Connection, events: Sequence[ParsedEvent]) -> None:
        nonlocal calls
        calls += 1
        if outage.is_set():
            raise TransientError("gateway unreachable")
        await record_application(conn, events)

    async with Running(stream, unavailable_until_cleared) as running:
        await eventually(lambda: calls, until=lambda n: n >= 8, what="8 tries of the batch")
        group = running.settings.group_id
        assert await committed_offsets(stream.bootstrap, group, stream.topic) == {}
        assert running.metric("consumer_outage") == 1
        outage.clear()
        await eventually(stream.applied, until=lambda n: n == 20, what="20 events applied")

    assert running.metric("consumer_outage") == 0
    assert (
        running.metric("consumer_dead_lettered_total", topic=stream.topic, code="handler_error")
        == 0
    )
    assert await stream.applied_twice() == 0
    assert await committed_offsets(stream.bootstrap, group, stream.topic) == {2: 20}


async def test_a_connection_lost_mid_batch_is_retried_not_dead_lettered(stream: Stream) -> None:
    await produce(stream.bootstrap, stream.topic, registrations(15), partition=0)
    killed = False

    async def lose_the_connection_once(conn: Connection, events: Sequence[ParsedEvent]) -> None:
        nonlocal killed
        if not killed:
            killed = True
            # The server ends our session mid-transaction, as a Postgres restart would.
            await conn.execute("SELECT pg_terminate_backend(pg_backend_pid())")
        await record_application(conn, events)

    async with Running(stream, lose_the_connection_once) as running:
        await eventually(stream.applied, until=lambda n: n == 15, what="15 events applied")

    assert running.metric("consumer_outage_retries_total", topic=stream.topic) >= 1
    assert await read_topic(stream.bootstrap, stream.dlq, 0) == []
    assert await stream.applied_twice() == 0


async def test_a_graceful_stop_commits_the_batch_in_progress(stream: Stream) -> None:
    await produce(stream.bootstrap, stream.topic, registrations(200))
    started = asyncio.Event()

    async def slow_batch(conn: Connection, events: Sequence[ParsedEvent]) -> None:
        started.set()
        await record_application(conn, events)
        await asyncio.sleep(0.5)

    running = Running(stream, slow_batch, max_records=20)
    async with running:
        async with asyncio.timeout(15):
            await started.wait()
        running.consumer.stop()  # while the first batch is still in its transaction
        async with asyncio.timeout(10):
            await running.task

    committed = await committed_offsets(stream.bootstrap, running.settings.group_id, stream.topic)
    assert 0 < sum(committed.values()) < 200
    assert await stream.applied() == sum(committed.values())


async def test_a_rebalance_between_two_members_applies_nothing_twice(stream: Stream) -> None:
    await produce(stream.bootstrap, stream.topic, registrations(400))
    group = f"test-{uuid.uuid4().hex[:8]}"

    async def slow_application(conn: Connection, events: Sequence[ParsedEvent]) -> None:
        for parsed in events:
            await record_application(conn, [parsed])
            # Slow enough to still be busy when the group notices the newcomer (next heartbeat).
            await asyncio.sleep(0.01)

    handler = slow_application
    quick = {"group_id": group, "max_records": 50, "heartbeat_interval_ms": 200}
    async with Running(stream, handler, **quick) as first:
        await eventually(stream.applied, until=lambda n: n >= 50, what="50 events applied")
        # A second member joins: partitions move while the first is applying batches.
        async with Running(stream, handler, **quick) as second:
            await eventually(stream.applied, until=lambda n: n >= 400, what="400 events applied")

    topic = {"topic": stream.topic}
    assert second.metric("consumer_records_consumed_total", **topic) > 0
    assert await stream.applied() == 400
    assert await stream.applied_twice() == 0
    assert (
        first.metric("consumer_events_processed_total", **topic)
        + second.metric("consumer_events_processed_total", **topic)
        == 400
    )
    ends = await end_offsets(stream.bootstrap, stream.topic)
    assert await committed_offsets(stream.bootstrap, group, stream.topic) == ends


async def test_sigkill_mid_stream_loses_nothing_and_applies_nothing_twice(
    stream: Stream, infra: Infra
) -> None:
    await produce(stream.bootstrap, stream.topic, registrations(600))
    group = f"test-{uuid.uuid4().hex[:8]}"
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        stream.schema,
        stream.topic,
        group,
        # The DSN carries a password: the environment, unlike argv, is not visible in ps.
        env={
            **os.environ,
            "PYTHONPATH": str(TEST_INFRA_DIR),
            "KAFKA_BOOTSTRAP_SERVERS": stream.bootstrap,
            "TEST_DSN": infra.admin_dsn,
        },
    )
    try:
        await eventually(stream.applied, until=lambda n: n >= 100, what="100 events applied")
        child.send_signal(signal.SIGKILL)
        async with asyncio.timeout(10):
            await child.wait()
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
    assert await stream.applied() < 600

    async with Running(stream, record_application, group_id=group) as restarted:
        await eventually(stream.applied, until=lambda n: n >= 600, what="600 events applied")

    assert await stream.applied() == 600
    assert await stream.applied_twice() == 0
    # It resumed from the offsets the killed process committed, not from the beginning.
    assert restarted.metric("consumer_records_consumed_total", topic=stream.topic) < 600


async def _run_child(schema: str, topic: str, group: str) -> None:
    """The consumer process of the SIGKILL test: slow enough to be killed mid-stream."""

    async def slow_application(conn: Connection, events: Sequence[ParsedEvent]) -> None:
        for parsed in events:
            await record_application(conn, [parsed])
            await asyncio.sleep(0.003)

    pool = await create_pool(os.environ["TEST_DSN"], search_path=schema, min_size=1, max_size=2)
    stream = Stream(os.environ["KAFKA_BOOTSTRAP_SERVERS"], topic, schema, pool)
    # The broker's minimum session timeout: the restarted consumer waits this long at most
    # for the killed member to be declared dead.
    settings = stream.settings(group_id=group, max_records=50, session_timeout_ms=6000)
    await EventConsumer(settings, database=pool, handler=slow_application).run()


if __name__ == "__main__":
    asyncio.run(_run_child(*sys.argv[1:4]))


async def test_offsets_reach_the_end_of_a_topic_written_in_transactions(stream: Stream) -> None:
    """The outbox relay publishes in Kafka transactions, and each commit writes a marker that
    takes an offset but is never delivered. The consumer must commit past the markers, or lag
    never reads 0 and a rebuild waiting for committed == end never finishes."""
    publisher = KafkaRecordPublisher(
        stream.bootstrap,
        client_id="kit-test-markers",
        transactional_id=f"retour-test-{stream.topic}",
    )
    batches = [registrations(20), registrations(20)]
    try:
        for number, batch in enumerate(batches):
            await publisher.publish_all(
                [
                    OutboxRecord(number * 100 + i, str(uuid.uuid4()), stream.topic, k, v, h)
                    for i, (k, v, h) in enumerate(batch)
                ]
            )
    finally:
        await publisher.close()
    ends = await end_offsets(stream.bootstrap, stream.topic)
    # 40 records and at least one marker per partition per transaction.
    assert sum(ends.values()) > 40

    async with Running(stream, record_application) as running:
        group = running.settings.group_id
        await eventually(
            lambda: committed_offsets(stream.bootstrap, group, stream.topic),
            until=lambda committed: committed == ends,
            what=f"offsets committed up to the transaction markers {ends}",
        )
    assert await stream.applied() == 40
    assert await stream.applied_twice() == 0
