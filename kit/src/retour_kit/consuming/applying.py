"""One transaction of a consumer: the inbox rows and the handler's effects, together.

The consumer's batches, its probes while paused and the dead-letter replay all apply events
through ``apply_events``, so a replayed dead letter is deduplicated exactly like a redelivered
record: by its inbox row, written in the transaction that applies it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

import asyncpg

from retour_kit.consuming.deliveries import Delivery, first_of_each
from retour_kit.consuming.handlers import HandleBatch
from retour_kit.consuming.inbox import claim_new_events
from retour_kit.telemetry import IncomingRecord, consuming_spans


@dataclass(frozen=True)
class Applied:
    fresh: int
    """Events the handler applied (their inbox rows are new)."""
    duplicates: int
    """Events skipped: the inbox already had them."""
    handler_seconds: float


async def apply_events(
    pool: asyncpg.Pool, inbox_name: str, handler: HandleBatch, deliveries: Sequence[Delivery]
) -> Applied:
    """Applies the deliveries not yet in the inbox, in one transaction; raises what the
    handler raised, having rolled everything back."""
    with consuming_spans(deliveries, _incoming):
        return await _apply_events(pool, inbox_name, handler, deliveries)


def _incoming(delivery: Delivery) -> IncomingRecord:
    record = delivery.record
    return IncomingRecord(
        topic=record.topic,
        event_id=str(delivery.event_id),
        traceparent=delivery.parsed.traceparent,
        partition=record.partition,
        offset=record.offset,
    )


async def _apply_events(
    pool: asyncpg.Pool, inbox_name: str, handler: HandleBatch, deliveries: Sequence[Delivery]
) -> Applied:
    async with pool.acquire() as conn, conn.transaction():
        new_ids = await claim_new_events(conn, inbox_name, [d.event_id for d in deliveries])
        fresh = first_of_each(list(deliveries), new_ids)
        elapsed = 0.0
        if fresh:
            started = time.perf_counter()
            await handler(conn, [d.parsed for d in fresh])
            elapsed = time.perf_counter() - started
    return Applied(len(fresh), len(deliveries) - len(fresh), elapsed)


class Trial(Enum):
    PASSED = "passed"
    ALREADY_APPLIED = "already_applied"


class _RollBack(Exception):
    """Raised inside a trial's transaction, so that nothing of it commits."""


async def try_event(
    pool: asyncpg.Pool, inbox_name: str, handler: HandleBatch, delivery: Delivery
) -> Trial:
    """Applies ``delivery`` and rolls it back: would it apply now? Raises what the handler
    raised. Nothing commits, so a later record tried this way does not overtake the failing
    record before it (the handler's contract already allows a rolled-back run)."""
    try:
        async with pool.acquire() as conn, conn.transaction():
            new_ids = await claim_new_events(conn, inbox_name, [delivery.event_id])
            if new_ids:
                await handler(conn, [delivery.parsed])
            raise _RollBack(Trial.PASSED if new_ids else Trial.ALREADY_APPLIED)
    except _RollBack as rolled_back:
        outcome: Trial = rolled_back.args[0]
        return outcome
