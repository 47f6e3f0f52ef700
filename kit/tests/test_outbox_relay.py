"""The outbox relay against the real Kafka broker and PostgreSQL, in a throwaway schema."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

from retour_contracts import RETURNEE_REGISTERED_V1, build_envelope
from retour_contracts.examples import example_returnee_registered
from retour_kit import outbox
from retour_kit.db import create_pool
from retour_test_infra import Infra, TopicProbe, scratch_schema, scratch_topic

pytestmark = pytest.mark.integration

OUTBOX_DDL = """
CREATE TABLE outbox (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id uuid NOT NULL UNIQUE,
    topic text NOT NULL,
    key bytea NOT NULL,
    value bytea NOT NULL,
    headers jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
)
"""


@dataclass(frozen=True)
class Scratch:
    schema: str
    topic: str


@pytest.fixture
async def scratch(infra: Infra) -> AsyncIterator[Scratch]:
    async with (
        scratch_schema(infra, "relay_test", OUTBOX_DDL) as schema,
        scratch_topic(infra, "relay") as topic,
    ):
        yield Scratch(schema, topic)


async def enqueue_events(infra: Infra, scratch: Scratch, count: int) -> set[str]:
    pool = await create_pool(infra.admin_dsn, search_path=scratch.schema)
    keys: set[str] = set()
    try:
        async with pool.acquire() as conn, conn.transaction():
            for _ in range(count):
                event = example_returnee_registered(returnee_id=uuid.uuid4())
                envelope = build_envelope(RETURNEE_REGISTERED_V1, event, source="/test")
                await outbox.enqueue(conn, envelope, topic=scratch.topic)
                keys.add(str(event.returnee_id))
    finally:
        await pool.close()
    return keys


def keys_of(records: list[object]) -> set[str]:
    return {record.key.decode() for record in records}  # type: ignore[attr-defined]


STALLING_RELAY = textwrap.dedent(
    """
    import asyncio, sys
    from retour_kit.kafka_publisher import KafkaRecordPublisher
    from retour_kit.outbox import OutboxRelay

    class PublishesThenHangs(KafkaRecordPublisher):
        async def publish_all(self, records):
            await super().publish_all(records)
            print("published", len(records), flush=True)
            await asyncio.Event().wait()  # killed here: after the broker acked, before delete

    async def main():
        dsn, schema, bootstrap = sys.argv[1:4]
        relay = OutboxRelay(dsn=dsn, schema=schema,
                            publisher=PublishesThenHangs(bootstrap, client_id="stalling"))
        await relay.run()

    asyncio.run(main())
    """
)


async def test_relay_killed_after_publishing_loses_nothing(
    infra: Infra, scratch: Scratch, tmp_path: Path
) -> None:
    keys = await enqueue_events(infra, scratch, 20)
    script = tmp_path / "stalling_relay.py"
    script.write_text(STALLING_RELAY)
    async with TopicProbe(infra.kafka_bootstrap, scratch.topic) as probe:
        stalling = subprocess.Popen(  # noqa: ASYNC220 - a real process, so it can be SIGKILLed
            [sys.executable, str(script), infra.admin_dsn, scratch.schema, infra.kafka_bootstrap],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert stalling.stdout is not None
            while not (line := await asyncio.to_thread(stalling.stdout.readline)).startswith(
                "published"
            ):
                assert line, "the stalling relay exited before publishing"
            first = await probe.collect(lambda got: keys <= keys_of(got), within=30)
        finally:
            stalling.kill()  # SIGKILL between the broker's ack and the DELETE
            stalling.wait()
            if stalling.stdout is not None:
                stalling.stdout.close()

        relay = outbox.OutboxRelay(
            dsn=infra.admin_dsn,
            schema=scratch.schema,
            publisher=outbox_publisher(infra),
        )
        task = asyncio.create_task(relay.run_forever())
        try:
            again = await probe.collect(lambda got: keys <= keys_of(got), within=60)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    first_ids = {r.key.decode(): dict(r.headers)["ce_id"] for r in first}
    again_ids = {r.key.decode(): dict(r.headers)["ce_id"] for r in again}
    assert set(first_ids) == keys
    assert set(again_ids) == keys  # nothing lost
    assert again_ids == first_ids  # the same events again, recognisable by their ce_id


def outbox_publisher(infra: Infra) -> outbox.RecordPublisher:
    from retour_kit.kafka_publisher import KafkaRecordPublisher

    return KafkaRecordPublisher(infra.kafka_bootstrap, client_id="test-relay")


async def test_two_relays_keep_order_per_key(infra: Infra, scratch: Scratch) -> None:
    """Two relays on one schema: one leads, the other waits; per-key order is outbox order."""
    pool = await create_pool(infra.admin_dsn, search_path=scratch.schema)
    try:
        async with pool.acquire() as conn:
            for sequence in range(100):
                event = example_returnee_registered(household_size=sequence + 1)
                # All for the example returnee: one key, so one partition and one order.
                envelope = build_envelope(RETURNEE_REGISTERED_V1, event, source="/test")
                await outbox.enqueue(conn, envelope, topic=scratch.topic)
    finally:
        await pool.close()
    relays = [
        outbox.OutboxRelay(
            dsn=infra.admin_dsn,
            schema=scratch.schema,
            publisher=outbox_publisher(infra),
            settings=outbox.RelaySettings(batch_size=7),
        )
        for _ in range(2)
    ]
    async with TopicProbe(infra.kafka_bootstrap, scratch.topic) as probe:
        tasks = [asyncio.create_task(relay.run_forever()) for relay in relays]
        try:
            records = await probe.collect(lambda got: len(got) >= 100, within=60)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    sizes = [json.loads(record.value)["household_size"] for record in records]
    assert sizes == list(range(1, 101))
    assert sum(relay.is_leader for relay in relays) <= 1


class SignalsWhenPublished:
    """Acknowledges at once and lets the test act in the same turn of the event loop."""

    def __init__(self) -> None:
        self.published = asyncio.Event()

    async def publish_all(self, records: Sequence[outbox.OutboxRecord]) -> None:
        self.published.set()


async def outbox_size(infra: Infra, scratch: Scratch) -> int:
    conn = await asyncpg.connect(infra.admin_dsn, server_settings={"search_path": scratch.schema})
    try:
        return int(await conn.fetchval("SELECT count(*) FROM outbox"))
    finally:
        await conn.close()


async def test_a_relay_cancelled_as_its_publish_completes_stops(
    infra: Infra, scratch: Scratch
) -> None:
    """A service's shutdown cancels the relay; landing just as the broker acknowledges must not
    be lost (Python 3.11's wait_for returned the result then, and the relay ran on forever)."""
    await enqueue_events(infra, scratch, 3)
    publisher = SignalsWhenPublished()
    relay = outbox.OutboxRelay(dsn=infra.admin_dsn, schema=scratch.schema, publisher=publisher)
    task = asyncio.create_task(relay.run_forever())
    try:
        async with asyncio.timeout(30):
            await publisher.published.wait()
        task.cancel()
        done, _ = await asyncio.wait([task], timeout=5)
        assert done, "the relay swallowed its cancellation and kept running"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled()
    # Cancelled before its DELETE committed: the rows stay for the next leader to publish.
    assert await outbox_size(infra, scratch) == 3


async def test_enqueue_many_stores_what_enqueue_stores_in_the_given_order(
    infra: Infra, scratch: Scratch
) -> None:
    envelopes = [
        build_envelope(
            RETURNEE_REGISTERED_V1,
            example_returnee_registered(returnee_id=uuid.uuid4()),
            source="/test",
        )
        for _ in range(5)
    ]
    pool = await create_pool(infra.admin_dsn, search_path=scratch.schema)
    try:
        async with pool.acquire() as conn:
            async with conn.transaction():
                await outbox.enqueue(conn, envelopes[0], topic=envelopes[0].topic)
                await outbox.enqueue_many(conn, envelopes[1:])
                await outbox.enqueue_many(conn, [])  # nothing, no error
            rows = await conn.fetch(
                "SELECT event_id::text, topic, key, value, headers FROM outbox ORDER BY id"
            )
    finally:
        await pool.close()
    stored = [
        (r["event_id"], r["topic"], r["key"], r["value"], [tuple(h) for h in r["headers"]])
        for r in rows
    ]
    assert stored == [
        (
            e.header_map["ce_id"],
            e.topic,
            e.key,
            e.value,
            [(name, value.decode()) for name, value in e.headers],
        )
        for e in envelopes
    ]
