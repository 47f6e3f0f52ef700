"""Reading what a topic received during a drill, to check the order of each person's events."""

from __future__ import annotations

import json
from collections import defaultdict

from aiokafka import TopicPartition

from retour_kit.topic_reading import committed_ends, committed_reader, read_to_ends


async def versions_by_key(
    kafka: str, since: dict[TopicPartition, int], keys: set[str]
) -> dict[str, list[int]]:
    """Each key's `version` values in the order the topic first holds each event (one key, one
    partition). A record published again after an unacknowledged send has the same event id
    (`ce_id`) and is skipped by every consumer's inbox, so only its first copy counts."""
    until = await committed_ends(kafka, next(iter(since)).topic)
    reader = committed_reader(kafka)
    await reader.start()
    found: dict[str, list[int]] = defaultdict(list)
    seen: set[bytes] = set()
    try:
        reader.assign(list(until))
        for partition in until:
            reader.seek(partition, since.get(partition, 0))
        async for records in read_to_ends(reader, until):
            for record in records:
                key = (record.key or b"").decode()
                event_id = dict(record.headers).get("ce_id", b"")
                if key in keys and event_id not in seen:
                    seen.add(event_id)
                    found[key].append(int(json.loads(record.value)["version"]))
    finally:
        await reader.stop()
    return found


def out_of_order(found: dict[str, list[int]]) -> int:
    return sum(1 for versions in found.values() if versions != sorted(versions))
