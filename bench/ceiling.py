"""The ceiling: the simplest correct consumer loop on this machine.

Raw aiokafka getmany, pydantic parse of every record (the contract's parse_envelope), one
asyncpg batch insert with inbox deduplication per fetched batch, commit, then commit offsets.
"""

from __future__ import annotations

import uuid

import asyncpg
from aiokafka import AIOKafkaConsumer

from bench.common import Timer
from retour_contracts import RETURNEE_REGISTERED_V1, parse_envelope
from retour_kit.kafka_security import kafka_options

REGISTERED = RETURNEE_REGISTERED_V1.topic

INBOX_DDL = "CREATE TABLE inbox (event_id uuid PRIMARY KEY, returnee_id uuid NOT NULL)"


async def raw_loop(kafka: str, topic: str, dsn: str, schema: str, expected: int) -> float:
    """Events per second to drain `expected` records from `topic` into `schema`.inbox."""
    conn = await asyncpg.connect(dsn, server_settings={"search_path": schema})
    consumer = AIOKafkaConsumer(
        topic,
        **kafka_options(kafka),
        group_id=f"bench-ceiling-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_poll_records=2000,
        fetch_max_bytes=16 * 1024 * 1024,
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    await consumer.start()
    done = 0
    try:
        with Timer() as timer:
            while done < expected:
                batches = await consumer.getmany(timeout_ms=1000, max_records=2000)
                for tp, records in batches.items():
                    rows = []
                    for record in records:
                        # A private copy of the topic: parse as the topic it copies.
                        parsed = parse_envelope(
                            REGISTERED, record.key, record.value, record.headers
                        )
                        rows.append((parsed.event_id, parsed.subject))
                    async with conn.transaction():
                        await conn.executemany(
                            "INSERT INTO inbox (event_id, returnee_id) VALUES ($1, $2)"
                            " ON CONFLICT DO NOTHING",
                            rows,
                        )
                    await consumer.commit({tp: records[-1].offset + 1})
                    done += len(records)
    finally:
        await consumer.stop()
        await conn.close()
    return expected / timer.seconds
