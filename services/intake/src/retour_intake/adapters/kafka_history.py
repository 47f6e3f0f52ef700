"""Rewriting a topic's history in place: read every record up to the end offsets found at the
start (the cut), append a copy of each to its own partition, then delete everything before
the cut. Records appended by live producers meanwhile lie after the cut and are kept.

Safe to run again after a crash: a new run's cut includes the copies already made, which are
copied once more (same event ids: consumers skip them) before the deletion.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Self

from aiokafka import AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete

from retour_intake.domain.history import RawRecord
from retour_kit.kafka_security import kafka_options
from retour_kit.topic_reading import committed_ends, committed_reader, read_to_ends

CHUNK = 500


@dataclass(frozen=True)
class Cut:
    topic: str
    ends: dict[int, int]
    """partition -> the end offset at the start: everything before it is rewritten."""


async def cut_of(bootstrap: str, topic: str) -> Cut:
    # The last stable offsets: the history ends where committed records do.
    ends = await committed_ends(bootstrap, topic)
    if not ends:
        raise LookupError(f"no topic {topic}")
    return Cut(topic, {tp.partition: offset for tp, offset in ends.items()})


async def chunks_before(bootstrap: str, cut: Cut) -> AsyncIterator[list[RawRecord]]:
    """Every committed record before the cut, in chunks; each partition's in its order.
    (A fenced relay leader's aborted records must not come back as duplicates.)"""
    ends = {TopicPartition(cut.topic, partition): end for partition, end in cut.ends.items()}
    reader = committed_reader(bootstrap, max_poll_records=CHUNK)
    await reader.start()
    try:
        reader.assign(list(ends))
        await reader.seek_to_beginning(*ends)
        async for records in read_to_ends(reader, ends, max_records=CHUNK):
            yield [_raw(record) for record in records]
    finally:
        await reader.stop()


def _raw(record: ConsumerRecord[bytes, bytes]) -> RawRecord:
    return RawRecord(
        partition=record.partition,
        key=record.key,
        value=record.value,
        headers=tuple(record.headers),
        timestamp_ms=record.timestamp,
    )


class Appender:
    """Appends copies to the partitions they came from; acks=all, idempotent, in order."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self._topic = topic
        self._producer = AIOKafkaProducer(
            **kafka_options(bootstrap),
            client_id="retour-intake-seal-history",
            acks="all",
            enable_idempotence=True,
        )

    async def __aenter__(self) -> Self:
        await self._producer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._producer.stop()

    async def append(self, records: Sequence[RawRecord]) -> None:
        sent = [
            await self._producer.send(
                self._topic,
                record.value,
                key=record.key,
                headers=list(record.headers),
                partition=record.partition,
                timestamp_ms=record.timestamp_ms,
            )
            for record in records
        ]
        for acknowledged in sent:
            await acknowledged  # every copy acknowledged before anything is deleted


async def delete_before(bootstrap: str, cut: Cut) -> None:
    admin = AIOKafkaAdminClient(**kafka_options(bootstrap))
    await admin.start()
    try:
        await admin.delete_records(
            {
                TopicPartition(cut.topic, partition): RecordsToDelete(before_offset=end)
                for partition, end in cut.ends.items()
                if end > 0
            }
        )
    finally:
        await admin.close()
