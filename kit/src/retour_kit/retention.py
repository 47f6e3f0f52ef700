"""Retention: the kit's tables that would grow without bound are pruned on a schedule.

What is kept, and for how long (the settings are in docs/operations.md, the reasons in
docs/data-protection.md, "Retention"):

- ``idempotency_keys``: ``IDEMPOTENCY_RETENTION_DAYS`` (7) after the request. Intake's stored
  responses hold the registered person's data. A retry with a key after that is a new request:
  intake's duplicate check still sees the person.
- ``inbox``: ``INBOX_RETENTION_DAYS`` (30) after the event was applied.
- ``outbox`` and the access log are not pruned here: relayed outbox rows are deleted by the relay
  at once, and the access log is the record, kept for good.

The runtime (``retour_kit.runtime``) adds a ``RetentionWorker`` to every service whose schema has
``idempotency_keys`` or ``inbox``, as its migrations package declares them (``KIT_TABLES``).

**What pruning the inbox gives up.** The inbox is what makes a redelivered event a no-op: once an
event's row is gone, the same event delivered again is applied again. Redeliveries of ordinary
operation (a crash, a rebalance, an outage) come within minutes or hours; only an operator brings
one later, by resetting a consumer group (or starting a new one) to offsets older than the
retention, or by producing an old record again. Applied again:

- reintegration opens a case only for a returnee without one (``ON CONFLICT DO NOTHING``):
  nothing changes;
- reporting's projections are keyed by the events' business ids (``ON CONFLICT DO NOTHING``):
  nothing is counted twice, no rebuild is needed (and its rebuild forgets the inbox itself);
- notifications sends nothing for an event older than ``MAX_EVENT_AGE_HOURS``, and its settings
  refuse an inbox retention shorter than that age: an event whose inbox row is gone is always too
  old to notify anyone. Its contacts are rewritten from a replayed registration, though
  (docs/operations.md, "Replaying and rebuilding reports").

**How rows are deleted.** One short statement per batch of at most ``BATCH_ROWS`` rows, oldest
first through the table's age index (kit migrations ``inbox_by_age`` and
``idempotency_keys_by_age``), each in its own transaction: no statement comes near the statement
timeout and no lock is held for long, however large the backlog. ``SKIP LOCKED`` lets replicas
pruning at the same time take different rows, and leaves alone a key a request is using. A stop
is honoured between two batches.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import asyncpg
import structlog
from prometheus_client import CollectorRegistry, Counter

from retour_kit.db import Connection, rows_affected
from retour_kit.safe_errors import describe_error
from retour_kit.settings import ConsumingSettings, ServiceSettings
from retour_kit.waiting import pause_unless_stopped

log = structlog.stdlib.get_logger(__name__)

BATCH_ROWS = 1000
"""Rows one statement deletes at most: a few milliseconds through the age index."""

FIRST_PASS_SECONDS = 60.0
"""The first pass waits this long after start (or one interval, if shorter): the service's
consumer and workers start first, and a rolling deploy's pods do not all prune at once."""

# Literal statements, one per table: table and column names never come from a value. $1 is the
# retention (an interval), $2 the batch size.
_PRUNE = {
    "idempotency_keys": """
DELETE FROM idempotency_keys WHERE ctid = ANY(ARRAY(
    SELECT ctid FROM idempotency_keys WHERE created_at < now() - $1::interval
    ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED
))
""",
    "inbox": """
DELETE FROM inbox WHERE ctid = ANY(ARRAY(
    SELECT ctid FROM inbox WHERE processed_at < now() - $1::interval
    ORDER BY processed_at LIMIT $2 FOR UPDATE SKIP LOCKED
))
""",
}
PRUNED_TABLES = tuple(_PRUNE)

Executor = asyncpg.Pool | Connection
"""A pool (each statement its own transaction), or a connection outside any transaction."""


@dataclass(frozen=True)
class Expiry:
    """Rows of ``table`` older than ``kept`` are deleted."""

    table: str
    kept: timedelta


def expiries(settings: ServiceSettings, kit_tables: Collection[str]) -> list[Expiry]:
    """What retention deletes in a schema that has ``kit_tables``, by the service's settings."""
    found: list[Expiry] = []
    if "idempotency_keys" in kit_tables:
        days = settings.idempotency_retention_days
        found.append(Expiry("idempotency_keys", timedelta(days=days)))
    if "inbox" in kit_tables:
        if not isinstance(settings, ConsumingSettings):
            raise TypeError(
                "a schema with the kit's inbox belongs to a consumer: its settings need"
                " ConsumingSettings (INBOX_RETENTION_DAYS)"
            )
        found.append(Expiry("inbox", timedelta(days=settings.inbox_retention_days)))
    return found


async def delete_in_batches(
    pool: Executor,
    statement: str,
    *args: Any,
    batch_rows: int = BATCH_ROWS,
    stopping: asyncio.Event | None = None,
) -> int:
    """Runs ``statement``, a DELETE of at most its last parameter's rows (``batch_rows``, passed
    after ``args``), until a run deletes fewer (nothing is left) or ``stopping`` is set; each run
    is a transaction of its own. Returns the rows deleted."""
    deleted = 0
    while stopping is None or not stopping.is_set():
        status = await pool.execute(statement, *args, batch_rows)
        rows = rows_affected(status)
        deleted += rows
        if rows < batch_rows:
            break
    return deleted


async def prune(
    pool: Executor,
    expiry: Expiry,
    *,
    batch_rows: int = BATCH_ROWS,
    stopping: asyncio.Event | None = None,
) -> int:
    """Deletes the rows of ``expiry.table`` older than ``expiry.kept``; returns how many."""
    return await delete_in_batches(
        pool, _PRUNE[expiry.table], expiry.kept, batch_rows=batch_rows, stopping=stopping
    )


class RetentionMetrics:
    """``retention_pruned_rows_total{table}``, in the service's registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.pruned = Counter(
            "retention_pruned_rows",
            "Rows deleted past their retention period, by table (idempotency_keys, inbox).",
            ["table"],
            registry=registry,
        )


class RetentionWorker:
    """Deletes expired rows of the kit's tables every ``interval_seconds``."""

    name = "kit-retention"

    def __init__(
        self,
        pool: asyncpg.Pool,
        expiries: Sequence[Expiry],
        metrics: RetentionMetrics,
        *,
        interval_seconds: float,
        batch_rows: int = BATCH_ROWS,
    ) -> None:
        self._pool = pool
        self._expiries = tuple(expiries)
        self._metrics = metrics
        self._interval = interval_seconds
        self._batch_rows = batch_rows
        for expiry in self._expiries:
            metrics.pruned.labels(expiry.table)  # shown at 0 from the start

    @property
    def tables(self) -> tuple[str, ...]:
        return tuple(expiry.table for expiry in self._expiries)

    async def run(self, stopping: asyncio.Event) -> None:
        pause = min(FIRST_PASS_SECONDS, self._interval)
        while not await pause_unless_stopped(stopping, pause):
            await self.prune_once(stopping)
            pause = self._interval

    async def prune_once(self, stopping: asyncio.Event | None = None) -> dict[str, int]:
        """One pass over every table; returns the rows deleted per table. A failure is logged
        and left to the next pass."""
        pruned: dict[str, int] = {}
        for expiry in self._expiries:
            try:
                rows = await prune(
                    self._pool, expiry, batch_rows=self._batch_rows, stopping=stopping
                )
            except Exception as error:  # an outage, a time limit: the next pass tries again
                log.warning(
                    "retention pass failed", table=expiry.table, error=describe_error(error)
                )
                continue
            pruned[expiry.table] = rows
            self._metrics.pruned.labels(expiry.table).inc(rows)
        if any(pruned.values()):
            # Counts only: never a key, an event id or a row.
            log.info("expired rows deleted", **pruned)
        return pruned


__all__ = [
    "BATCH_ROWS",
    "FIRST_PASS_SECONDS",
    "PRUNED_TABLES",
    "Expiry",
    "RetentionMetrics",
    "RetentionWorker",
    "delete_in_batches",
    "expiries",
    "prune",
]
