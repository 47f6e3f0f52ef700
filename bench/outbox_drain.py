"""Outbox drain: a backlog left by a broker outage, published by the real relay."""

from __future__ import annotations

import asyncio
import json

import asyncpg

from bench.common import Stack, Timer, registration_records, scratch_schema
from retour_kit.kafka_publisher import KafkaRecordPublisher
from retour_kit.outbox import OutboxRelay

OUTBOX_DDL = (
    "CREATE TABLE outbox (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " event_id uuid NOT NULL UNIQUE, topic text NOT NULL, key bytea NOT NULL,"
    " value bytea NOT NULL, headers jsonb NOT NULL, created_at timestamptz NOT NULL DEFAULT now())"
)


async def drain(stack: Stack, topic: str, rows: int) -> float:
    async with scratch_schema(stack.admin_dsn, OUTBOX_DDL) as schema:
        conn = await asyncpg.connect(stack.admin_dsn, server_settings={"search_path": schema})
        try:
            await conn.copy_records_to_table(
                "outbox",
                columns=["event_id", "topic", "key", "value", "headers"],
                records=[
                    (
                        dict(headers)["ce_id"].decode(),
                        topic,
                        key,
                        value,
                        json.dumps([[n, v.decode()] for n, v in headers]),
                    )
                    for key, value, headers in registration_records(rows)
                ],
            )
            publisher = KafkaRecordPublisher(stack.kafka, client_id="bench-drain")
            relay = OutboxRelay(dsn=stack.admin_dsn, schema=schema, publisher=publisher)
            with Timer() as timer:
                task = asyncio.create_task(relay.run_forever())
                backlog = True
                while backlog:
                    await asyncio.sleep(0.05)
                    backlog = await conn.fetchval("SELECT EXISTS (SELECT 1 FROM outbox)")
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
            await publisher.close()
        finally:
            await conn.close()
    return rows / timer.seconds
