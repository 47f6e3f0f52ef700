"""Reading what a topic received during a drill, to check the order of each person's events."""

from __future__ import annotations

import json
from collections import defaultdict

from aiokafka import AIOKafkaConsumer, TopicPartition

from bench.common import partitions_of
from retour_kit.kafka_security import kafka_options


async def end_offsets(kafka: str, topic: str) -> dict[TopicPartition, int]:
    partitions = await partitions_of(kafka, topic)
    probe = AIOKafkaConsumer(
        **kafka_options(kafka), enable_auto_commit=False, isolation_level="read_committed"
    )
    await probe.start()
    try:
        ends: dict[TopicPartition, int] = await probe.end_offsets(partitions)
        return ends
    finally:
        await probe.stop()


async def versions_by_key(
    kafka: str, since: dict[TopicPartition, int], keys: set[str]
) -> dict[str, list[int]]:
    """Each key's `version` values in the order the topic first holds each event (one key, one
    partition). A record published again after an unacknowledged send has the same event id
    (`ce_id`) and is skipped by every consumer's inbox, so only its first copy counts."""
    until = await end_offsets(kafka, next(iter(since)).topic)
    # read_committed: a fenced relay leader's aborted records are not events.
    consumer = AIOKafkaConsumer(
        **kafka_options(kafka), enable_auto_commit=False, isolation_level="read_committed"
    )
    await consumer.start()
    found: dict[str, list[int]] = defaultdict(list)
    seen: set[bytes] = set()
    try:
        consumer.assign(list(until))
        for partition, offset in since.items():
            consumer.seek(partition, offset)
        remaining = {tp for tp, end in until.items() if end > since.get(tp, 0)}
        while remaining:
            batches = await consumer.getmany(timeout_ms=1000)
            for records in batches.values():
                for record in records:
                    key = (record.key or b"").decode()
                    event_id = dict(record.headers).get("ce_id", b"")
                    if key in keys and event_id not in seen:
                        seen.add(event_id)
                        found[key].append(int(json.loads(record.value)["version"]))
            # By position, not by the last record's offset: the relays publish in Kafka
            # transactions, whose commit markers take the last offsets and are never returned.
            for partition in list(remaining):
                if await consumer.position(partition) >= until[partition]:
                    remaining.discard(partition)
    finally:
        await consumer.stop()
    return found


def out_of_order(found: dict[str, list[int]]) -> int:
    return sum(1 for versions in found.values() if versions != sorted(versions))
