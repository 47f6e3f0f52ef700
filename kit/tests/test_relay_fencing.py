"""The outbox publisher's fencing against the real broker: a relay that becomes the leader
fences the previous leader's producer, whose open transaction (records already on the broker)
is aborted and whose commit fails, so read_committed consumers never see its records."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import ProducerFenced

from retour_kit.kafka_publisher import KafkaRecordPublisher
from retour_kit.outbox import FencingPublisher, OutboxRecord
from retour_test_infra import Infra, eventually, scratch_topic

pytestmark = pytest.mark.integration


@pytest.fixture
async def topic(infra: Infra) -> AsyncIterator[str]:
    async with scratch_topic(infra, "fencing", partitions=1) as name:
        yield name


class HoldsBeforeCommit(KafkaRecordPublisher):
    """A leader that freezes between sending its batch and committing it."""

    def __init__(self, bootstrap: str, *, transactional_id: str) -> None:
        super().__init__(bootstrap, client_id="fencing-test", transactional_id=transactional_id)
        self.sent = asyncio.Event()
        self.wake = asyncio.Event()

    async def _send_all(self, producer: AIOKafkaProducer, records: Sequence[OutboxRecord]) -> None:
        await super()._send_all(producer, records)
        self.sent.set()
        await self.wake.wait()


def records(topic: str, value: bytes, count: int) -> list[OutboxRecord]:
    return [
        OutboxRecord(
            id=number,
            event_id=str(uuid.uuid4()),
            topic=topic,
            key=b"one-returnee",
            value=value,
            headers=[("ce_id", str(uuid.uuid4()).encode())],
        )
        for number in range(count)
    ]


async def read_values(bootstrap: str, topic: str, isolation_level: str) -> list[bytes]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        isolation_level=isolation_level,
    )
    await consumer.start()
    values: list[bytes] = []

    async def read_more() -> list[bytes]:
        for batch in (await consumer.getmany(timeout_ms=200)).values():
            values.extend(record.value for record in batch)
        return values

    try:
        return await eventually(
            read_more, until=lambda got: b"new" in got, every=0, what="the new leader's records"
        )
    finally:
        await consumer.stop()


async def test_a_new_leader_fences_the_open_transaction_of_the_old_one(
    infra: Infra, topic: str
) -> None:
    transactional_id = f"retour-test-outbox.{uuid.uuid4().hex[:8]}"
    old = HoldsBeforeCommit(infra.kafka_bootstrap, transactional_id=transactional_id)
    new = KafkaRecordPublisher(
        infra.kafka_bootstrap, client_id="fencing-test", transactional_id=transactional_id
    )
    assert isinstance(new, FencingPublisher)  # the relay fences through it
    try:
        await old.take_over()
        publishing = asyncio.create_task(old.publish_all(records(topic, b"old", 3)))
        async with asyncio.timeout(30):
            await old.sent.wait()  # acknowledged by the broker, inside an open transaction

        await new.take_over()
        await new.publish_all(records(topic, b"new", 2))
        old.wake.set()
        with pytest.raises(ProducerFenced):
            await publishing
    finally:
        await old.close()
        await new.close()

    committed = await read_values(infra.kafka_bootstrap, topic, "read_committed")
    everything = await read_values(infra.kafka_bootstrap, topic, "read_uncommitted")
    assert committed == [b"new", b"new"]
    assert everything.count(b"old") == 3  # they did reach the broker, and were aborted
