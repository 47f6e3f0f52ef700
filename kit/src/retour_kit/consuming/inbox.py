"""The inbox: which events a consumer has already applied.

Each service that consumes has the kit's `inbox` table (retour_kit/tables/) in its own schema:
its migrations package declares it, `KIT_TABLES = (..., "inbox")`. One row per (consumer,
event id).

The rows are inserted in the transaction that applies the events, so "recorded as applied" and
"applied" commit together or not at all. Deduplication rests on the primary key, not on the
isolation level: a concurrent transaction inserting the same ids waits for ours, then skips
them.
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from retour_kit.db import Connection

# ON CONFLICT DO NOTHING also skips a second copy of an id within the same statement, so a
# record delivered twice in one batch is applied once.
_CLAIM = """
INSERT INTO inbox (consumer, event_id)
SELECT $1, event_id FROM unnest($2::uuid[]) AS event_id
ON CONFLICT DO NOTHING
RETURNING event_id
"""


async def claim_new_events(conn: Connection, consumer: str, event_ids: Sequence[UUID]) -> set[UUID]:
    """Records ``event_ids`` as applied by ``consumer``; returns those not recorded before."""
    if not event_ids:
        return set()
    rows = await conn.fetch(_CLAIM, consumer, list(event_ids))
    return {row["event_id"] for row in rows}


async def recorded_events(conn: Connection, consumer: str, event_ids: Sequence[UUID]) -> set[UUID]:
    """Which of ``event_ids`` ``consumer`` has applied; reads only (a dry run's question)."""
    if not event_ids:
        return set()
    rows = await conn.fetch(
        "SELECT event_id FROM inbox WHERE consumer = $1 AND event_id = ANY($2::uuid[])",
        consumer,
        list(event_ids),
    )
    return {row["event_id"] for row in rows}
