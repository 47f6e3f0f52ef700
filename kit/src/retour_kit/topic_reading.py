"""Reading a topic as the services' consumers see it, up to ends fixed before the read: what a
dead-letter replay, a history rewrite or a drill's check needs.

- read_committed: the outbox relays publish in Kafka transactions; a fenced leader's aborted
  records are not events, and must not come back as duplicates of its successor's.
- The ends are last stable offsets, and a partition is read to its end by the reader's
  position, never by its last record's offset: a transaction's commit marker takes the last
  offset and is never returned, so a reader waiting for the record before the end would wait
  forever.
- A read that fetches nothing for ``stall_seconds`` (Kafka gone) fails rather than hangs.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from retour_kit.kafka_security import kafka_options

STALL_SECONDS = 30.0


async def partitions_of(bootstrap: str, topic: str) -> list[TopicPartition]:
    """The topic's partitions, in order; none when it does not exist."""
    admin = AIOKafkaAdminClient(**kafka_options(bootstrap))
    await admin.start()
    try:
        [description] = await admin.describe_topics([topic])
    finally:
        await admin.close()
    numbers = sorted(p["partition"] for p in description.get("partitions") or ())
    return [TopicPartition(topic, number) for number in numbers]


def committed_reader(bootstrap: str, **options: Any) -> AIOKafkaConsumer:
    """A consumer of no group (it commits nothing) that reads committed records only; not
    started. ``options`` are aiokafka's (a client id, max_poll_records)."""
    return AIOKafkaConsumer(
        **kafka_options(bootstrap),
        group_id=None,
        enable_auto_commit=False,
        isolation_level="read_committed",
        **options,
    )


async def committed_ends(bootstrap: str, topic: str) -> dict[TopicPartition, int]:
    """Where each partition's committed records end now (its last stable offset)."""
    partitions = await partitions_of(bootstrap, topic)
    reader = committed_reader(bootstrap)
    await reader.start()
    try:
        ends: dict[TopicPartition, int] = await reader.end_offsets(partitions)
        return ends
    finally:
        await reader.stop()


async def read_to_ends(
    reader: AIOKafkaConsumer,
    ends: Mapping[TopicPartition, int],
    *,
    max_records: int | None = None,
    stall_seconds: float = STALL_SECONDS,
) -> AsyncIterator[list[ConsumerRecord[bytes, bytes]]]:
    """The records of the partitions of ``ends``, from the ``reader``'s positions (assigned
    and sought by the caller) up to those ends, in chunks of at most ``max_records``; each
    partition's in its order."""
    remaining = {tp for tp in ends if await reader.position(tp) < ends[tp]}
    stalled_since = time.monotonic()
    while remaining:
        fetched = await reader.getmany(*remaining, timeout_ms=1000, max_records=max_records)
        chunk = [r for tp, records in fetched.items() for r in records if r.offset < ends[tp]]
        if chunk:
            yield chunk
        if fetched:
            stalled_since = time.monotonic()
        elif time.monotonic() - stalled_since > stall_seconds:
            topics = ", ".join(sorted({tp.topic for tp in remaining}))
            raise TimeoutError(
                f"{topics} not read to its end: nothing fetched for {stall_seconds} s"
            )
        for tp in list(remaining):
            if await reader.position(tp) >= ends[tp]:
                remaining.discard(tp)
