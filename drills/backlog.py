"""A backlog for a consumer far behind: many distinct, valid events written straight to a topic
only reporting reads (expected_arrival.closed), so the other consumers are not loaded too."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

from bench.common import produce
from retour_contracts import EXPECTED_ARRIVAL_CLOSED_V1, build_envelope
from retour_contracts.examples import EXPECTED_ID, example_expected_arrival_closed

TOPIC = EXPECTED_ARRIVAL_CLOSED_V1.topic
Record = tuple[bytes, bytes, list[tuple[str, bytes]]]


def closures(count: int, ids: list[str]) -> Iterator[Record]:
    """`count` closures of new expected people, their ids appended to `ids`. One envelope is
    built through the contract, then copied with new ids by byte substitution (as the
    benchmark's registration_records): building 100,000 models would dominate the drill."""
    template = build_envelope(
        EXPECTED_ARRIVAL_CLOSED_V1, example_expected_arrival_closed(), source="/drills"
    )
    old_id = str(EXPECTED_ID).encode()
    old_event_id = dict(template.headers)["ce_id"]
    for _ in range(count):
        new = str(uuid.uuid4())
        ids.append(new)
        event_id = str(uuid.uuid4()).encode()
        headers = [
            (name, event_id if value == old_event_id else value.replace(old_id, new.encode()))
            for name, value in template.headers
        ]
        yield (
            template.key.replace(old_id, new.encode()),
            template.value.replace(old_id, new.encode()),
            headers,
        )


async def write_backlog(kafka: str, count: int) -> list[str]:
    ids: list[str] = []
    await produce(kafka, TOPIC, closures(count, ids))
    return ids
