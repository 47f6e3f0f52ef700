"""A consumer that fails the same way for many different records pauses instead of
dead-lettering its topic, says why in /readyz, and resumes by itself once the fault is fixed;
a poison record among healthy ones is still dead-lettered.

Each test gets a private one-partition topic (order is a partition's) and its ``.dlq``, and a
scratch schema whose ``applied`` table numbers each application (``seq``) and has no unique
key: an event applied twice, or out of order, shows.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client import CollectorRegistry

from retour_contracts import RETURNEE_REGISTERED_V1, ParsedEvent, build_envelope
from retour_contracts.examples import example_returnee_registered
from retour_kit.consuming import (
    ConsumerMetrics,
    ConsumerSettings,
    EventConsumer,
    HandleBatch,
    RetryPolicy,
    Subscription,
)
from retour_kit.consuming.settings import SystematicFailurePolicy
from retour_kit.db import Connection, create_pool
from retour_kit.readiness import consumer_ready, run_readiness_checks
from retour_test_infra import (
    Infra,
    RunningConsumer,
    eventually,
    read_topic,
    scratch_schema,
    scratch_topic,
)

pytestmark = pytest.mark.integration

FAST_RETRIES = RetryPolicy(
    handler_backoff_seconds=0.01, outage_backoff_seconds=0.05, outage_backoff_cap_seconds=0.2
)
# A poison record at the end of a batch waits this long for its verdict before its dead letter.
QUICK_PROBES = SystematicFailurePolicy(
    threshold=5,
    window_seconds=60,
    probe_seconds=0.2,
    probe_cap_seconds=0.5,
    verdict_wait_seconds=1.0,
)
CONSUMER_NAME = "systematic-test"
# The column a rolling migration has not added yet: the handler's INSERT names it.
SCHEMA_DDL = """
CREATE TABLE inbox (
    consumer text NOT NULL, event_id uuid NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (consumer, event_id)
);
CREATE TABLE applied (
    seq bigserial, event_id uuid NOT NULL, returnee_id uuid NOT NULL, note text
);
"""


@dataclass(frozen=True)
class Stream:
    """A private topic and the scratch schema its consumer writes to."""

    bootstrap: str
    topic: str
    pool: asyncpg.Pool

    @property
    def dlq(self) -> str:
        return f"{self.topic}.dlq"

    def settings(self, **overrides: Any) -> ConsumerSettings:
        values: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap,
            "group_id": f"test-{uuid.uuid4().hex[:8]}",
            "consumer_name": CONSUMER_NAME,
            "subscriptions": (Subscription(RETURNEE_REGISTERED_V1, topic=self.topic),),
            "retry": FAST_RETRIES,
            "systematic": QUICK_PROBES,
        }
        return ConsumerSettings(**(values | overrides))

    async def applied_in_order(self) -> list[UUID]:
        rows = await self.pool.fetch("SELECT event_id FROM applied ORDER BY seq")
        return [row["event_id"] for row in rows]

    async def missing_column(self) -> None:
        """The rolling migration: the new code's column is not there yet."""
        await self.pool.execute("ALTER TABLE applied DROP COLUMN note")

    async def migrated(self) -> None:
        await self.pool.execute("ALTER TABLE applied ADD COLUMN note text")

    async def produce(self, count: int, partition: int = 0) -> list[UUID]:
        """``count`` registrations on ``partition``; their event ids, in offset order."""
        producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap, acks="all", enable_idempotence=True
        )
        await producer.start()
        ids = []
        try:
            for _ in range(count):
                envelope = build_envelope(
                    RETURNEE_REGISTERED_V1,
                    example_returnee_registered(returnee_id=uuid.uuid4()),
                    source="/intake",
                )
                await producer.send_and_wait(
                    self.topic,
                    envelope.value,
                    key=envelope.key,
                    headers=envelope.headers,
                    partition=partition,
                )
                ids.append(UUID(envelope.header_map["ce_id"]))
        finally:
            await producer.stop()
        return ids


@asynccontextmanager
async def private_stream(infra: Infra, partitions: int = 1) -> AsyncIterator[Stream]:
    async with (
        scratch_topic(infra, "systematic", partitions=partitions, dead_letters=True) as topic,
        scratch_schema(infra, "systematic", SCHEMA_DDL) as schema,
    ):
        pool = await create_pool(infra.admin_dsn, search_path=schema, min_size=1, max_size=4)
        try:
            yield Stream(infra.kafka_bootstrap, topic, pool)
        finally:
            await pool.close()


@pytest.fixture
async def stream(infra: Infra) -> AsyncIterator[Stream]:
    async with private_stream(infra) as created:
        yield created


class Running(RunningConsumer):
    def __init__(self, settings: ConsumerSettings, pool: asyncpg.Pool, handler: HandleBatch):
        self.settings = settings
        registry = CollectorRegistry()
        consumer = EventConsumer(
            settings, database=pool, handler=handler, metrics=ConsumerMetrics.register(registry)
        )
        super().__init__(consumer, registry, group=settings.group_id)


async def record_with_note(conn: Connection, events: Sequence[ParsedEvent]) -> None:
    """The new code: it writes ``applied.note``."""
    for parsed in events:
        await conn.execute(
            "INSERT INTO applied (event_id, returnee_id, note) VALUES ($1, $2, 'v2')",
            UUID(parsed.event_id),
            parsed.subject,
        )


def failing_for(culprits: set[UUID]) -> HandleBatch:
    """A handler that raises for the events named in ``culprits`` (cleared to fix it)."""

    async def handle(conn: Connection, events: Sequence[ParsedEvent]) -> None:
        if any(UUID(parsed.event_id) in culprits for parsed in events):
            raise ValueError("case rules broken for this returnee")
        await record_with_note(conn, events)

    return handle


async def committed_offsets(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return {tp.partition: meta.offset for tp, meta in offsets.items() if tp.topic == topic}


async def committed_offset(bootstrap: str, group: str, topic: str) -> int | None:
    """Partition 0's, of a one-partition topic."""
    return (await committed_offsets(bootstrap, group, topic)).get(0)


async def test_a_failure_of_every_record_pauses_the_consumer_until_it_is_fixed(
    stream: Stream,
) -> None:
    await stream.missing_column()
    produced = await stream.produce(12)

    async with Running(stream.settings(), stream.pool, record_with_note) as running:
        consumer = running.consumer
        reason = await eventually(
            lambda: consumer.paused_reason,
            until=lambda reason: reason is not None,
            what="the consumer paused",
        )
        assert reason == "paused: systematic failure UndefinedColumnError/42703"
        checks = await run_readiness_checks([consumer_ready(lambda: consumer.paused_reason)])
        assert checks == {"consumer": reason}
        assert running.metric("consumer_paused") == 1
        code = {"topic": stream.topic, "code": "UndefinedColumnError/42703"}
        assert running.metric("consumer_systematic_failures_total", **code) == 1
        # Probes fail while the column is missing: still paused, nothing committed, nothing
        # dead-lettered, whatever the number of probes.
        await eventually(
            lambda: running.metric("consumer_handler_failures_total", topic=stream.topic),
            until=lambda failures: failures >= 8,
            what="several probes failed",
        )
        assert consumer.paused_reason == reason
        group = running.settings.group_id
        assert await committed_offset(stream.bootstrap, group, stream.topic) in (None, 0)

        await stream.migrated()  # the fix

        await eventually(
            stream.applied_in_order,
            until=lambda applied: len(applied) == len(produced),
            what="every event applied after the fix",
        )
        await eventually(
            lambda: committed_offset(stream.bootstrap, group, stream.topic),
            until=lambda offset: offset == len(produced),
            what="the offset committed past the last record",
        )
        assert consumer.paused_reason is None
        assert await run_readiness_checks([consumer_ready(lambda: consumer.paused_reason)]) == {
            "consumer": "ok"
        }
        assert running.metric("consumer_paused") == 0

    assert await stream.applied_in_order() == produced  # in order, each once
    assert await read_topic(stream.bootstrap, stream.dlq, 0) == []
    assert running.metric("consumer_dead_lettered_total", **code | {"code": "handler_error"}) == 0


async def test_a_poison_record_among_healthy_ones_is_still_dead_lettered(stream: Stream) -> None:
    produced = await stream.produce(10)
    # One in the middle (the next record shows it is alone) and the last one of the batch.
    culprits = {produced[4], produced[9]}

    async with Running(stream.settings(), stream.pool, failing_for(culprits)) as running:
        dead = await read_topic(stream.bootstrap, stream.dlq, 2)
        await eventually(
            lambda: committed_offset(stream.bootstrap, running.settings.group_id, stream.topic),
            until=lambda offset: offset == len(produced),
            what="the offset committed past both poison records",
        )
        assert running.consumer.paused_reason is None

    assert [UUID(dict(r.headers)["ce_id"].decode()) for r in dead] == [produced[4], produced[9]]
    assert {dict(r.headers)["dlq_code"] for r in dead} == {b"handler_error"}
    # The last one had nothing after it to compare with: its partition waited for a verdict.
    assert (
        running.metric("consumer_verdicts_deferred_total", topic=stream.topic, code="ValueError")
        >= 1
    )
    healthy = [event_id for event_id in produced if event_id not in culprits]
    assert await stream.applied_in_order() == healthy
    assert running.metric("consumer_paused") == 0


async def test_failures_arriving_one_by_one_wait_for_a_verdict_then_pause(
    infra: Infra,
) -> None:
    """A quiet topic hands the consumer one record at a time: with nothing to look ahead at,
    a failing record holds its own partition for the verdict wait while the other partitions
    go on and fail alike; once ``threshold`` different records have failed, the consumer
    pauses. Nothing is dead-lettered, and after the fix every record is applied once, in its
    partition's order."""
    everything = {uuid.uuid4()}  # a sentinel: the handler fails for every event while set

    async def broken(conn: Connection, events: Sequence[ParsedEvent]) -> None:
        if everything:
            raise asyncpg.InsufficientPrivilegeError("permission denied for table applied")
        await record_with_note(conn, events)

    # The wait only has to outlast the other partitions' failures (a fraction of a second).
    policy = SystematicFailurePolicy(
        threshold=3,
        window_seconds=60,
        probe_seconds=0.2,
        probe_cap_seconds=0.5,
        verdict_wait_seconds=5,
    )
    async with private_stream(infra, partitions=3) as stream:
        produced = {p: await stream.produce(2, partition=p) for p in range(3)}
        settings = stream.settings(systematic=policy, max_records=1)
        async with Running(settings, stream.pool, broken) as running:
            await eventually(
                lambda: running.consumer.paused_reason,
                until=lambda reason: (
                    reason == "paused: systematic failure InsufficientPrivilegeError/42501"
                ),
                what="the consumer paused on the third failure",
            )
            code = {"topic": stream.topic, "code": "InsufficientPrivilegeError/42501"}
            assert running.metric("consumer_verdicts_deferred_total", **code) == 2
            everything.clear()
            await eventually(
                stream.applied_in_order,
                until=lambda applied: len(applied) == 6,
                what="all 6 events applied after the fix",
            )
            await eventually(
                lambda: committed_offsets(stream.bootstrap, settings.group_id, stream.topic),
                until=lambda offsets: offsets == {0: 2, 1: 2, 2: 2},
                what="every partition committed past its last record",
            )

        applied = await stream.applied_in_order()
        assert sorted(applied) == sorted(e for events in produced.values() for e in events)
        for events in produced.values():
            assert [event for event in applied if event in events] == events
        assert await read_topic(stream.bootstrap, stream.dlq, 0) == []
        assert (
            running.metric("consumer_dead_lettered_total", **code | {"code": "handler_error"}) == 0
        )


async def test_partitions_failing_alike_side_by_side_all_wait_and_all_resume(
    infra: Infra,
) -> None:
    """Three partitions applied side by side fail together: their failures add up to one
    verdict, every partition stops at its first record, and after the fix each is applied
    in its own order from there, once."""
    async with private_stream(infra, partitions=3) as stream:
        await stream.missing_column()
        produced = {p: await stream.produce(6, partition=p) for p in range(3)}

        async with Running(stream.settings(), stream.pool, record_with_note) as running:
            await eventually(
                lambda: running.consumer.paused_reason,
                until=lambda reason: reason is not None,
                what="the consumer paused",
            )
            await stream.migrated()
            await eventually(
                stream.applied_in_order,
                until=lambda applied: len(applied) == 18,
                what="all 18 events applied after the fix",
            )
            # The offsets are committed after the transaction that applied the events (at
            # least once), so the rows can be seen a moment before the commit lands.
            group = running.settings.group_id
            await eventually(
                lambda: committed_offsets(stream.bootstrap, group, stream.topic),
                until=lambda offsets: offsets == {0: 6, 1: 6, 2: 6},
                what="every partition committed past its last record",
            )

        applied = await stream.applied_in_order()
        assert len(set(applied)) == 18
        for events in produced.values():
            assert [event for event in applied if event in events] == events
        assert await read_topic(stream.bootstrap, stream.dlq, 0) == []
