"""Transactional outbox: events are stored with the state change that caused them, then relayed.

Write path: `enqueue` inserts the outbox row inside the caller's transaction, so a registration
and its event commit together or not at all; Kafka being down never fails the request.

Relay, and why it is shaped like this:
- Only one relay per service publishes at a time (a Postgres advisory lock held by a session
  connection). Two relays claiming disjoint batches could publish two events of one returnee
  out of order; with one leader, order per key is the order of the outbox ids. When the leader
  dies its connection closes, the lock is released and a standby instance takes over.
- Rows are claimed with `FOR UPDATE SKIP LOCKED` (never "id greater than the last seen":
  identities are allocated before commit, so such a cursor skips rows that commit late).
- Rows are deleted in the same transaction that claimed them, and only after the broker has
  acknowledged every record of the batch (acks=all, idempotent producer). A crash in between
  rolls the transaction back and the rows are published again: at-least-once, duplicates
  recognisable by their ce_id, nothing lost.
- The relay wakes on LISTEN/NOTIFY (the NOTIFY is sent by the writing transaction and delivered
  only if it commits) and polls as a fallback, because LISTEN connections can drop silently.
- While Kafka is unreachable the batch fails, the transaction rolls back, and the relay retries
  with capped exponential backoff; the backlog drains when the broker returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import asyncpg
import structlog

from retour_contracts import Envelope
from retour_kit.db import Connection, register_json_codecs
from retour_kit.waiting import exponential_backoff

log = structlog.get_logger(__name__)

NOTIFY_CHANNEL_SUFFIX = "_outbox"


@dataclass(frozen=True)
class OutboxRecord:
    id: int
    event_id: str
    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


class RecordPublisher(Protocol):
    """Publishes records in order and returns once the broker acknowledged all of them."""

    async def publish_all(self, records: Sequence[OutboxRecord]) -> None: ...


class OutboxMetrics(Protocol):
    def published(self, count: int) -> None: ...
    def publish_failed(self) -> None: ...
    def backlog(self, size: int, oldest_age_seconds: float) -> None: ...


def notify_channel(schema: str) -> str:
    return f"{schema}{NOTIFY_CHANNEL_SUFFIX}"


def _header_value(envelope: Envelope, name: str) -> str:
    for header, value in envelope.headers:
        if header == name:
            return value.decode()
    raise ValueError(f"envelope has no {name} header")


async def enqueue(conn: Connection, envelope: Envelope, *, topic: str, schema: str) -> None:
    """Store an event for publication; call inside the transaction of the state change.

    `conn` must come from `retour_kit.db` (json/jsonb codecs registered).
    """
    # One round trip: the NOTIFY rides on the insert's statement. It is delivered to the
    # relay only when this transaction commits, and dropped on rollback.
    await conn.execute(
        _ENQUEUE,
        _header_value(envelope, "ce_id"),
        topic,
        envelope.key,
        envelope.value,
        [[name, value.decode()] for name, value in envelope.headers],
        notify_channel(schema),
    )


_ENQUEUE = """
WITH queued AS (
    INSERT INTO outbox (event_id, topic, key, value, headers) VALUES ($1, $2, $3, $4, $5)
)
SELECT pg_notify($6, '')
"""


async def enqueue_many(conn: Connection, envelopes: Sequence[Envelope], *, schema: str) -> None:
    """``enqueue`` for several events at once (each to its envelope's topic), in one round
    trip: a consumer batch that causes events (three visits scheduled per case opened) would
    otherwise spend most of its time on one insert per event. Rows keep the given order, so
    the relay publishes them in it."""
    if not envelopes:
        return
    await conn.execute(
        _ENQUEUE_MANY,
        [_header_value(envelope, "ce_id") for envelope in envelopes],
        [envelope.topic for envelope in envelopes],
        [envelope.key for envelope in envelopes],
        [envelope.value for envelope in envelopes],
        # jsonb[] has no codec of its own here: each row's headers travel as JSON text.
        [
            json.dumps([[name, value.decode()] for name, value in envelope.headers])
            for envelope in envelopes
        ],
        notify_channel(schema),
    )


_ENQUEUE_MANY = """
WITH queued AS (
    INSERT INTO outbox (event_id, topic, key, value, headers)
    SELECT event_id, topic, key, value, headers::jsonb
    FROM unnest($1::uuid[], $2::text[], $3::bytea[], $4::bytea[], $5::text[])
         WITH ORDINALITY AS emitted (event_id, topic, key, value, headers, position)
    ORDER BY position
)
SELECT pg_notify($6, '')
"""


_CLAIM = """
SELECT id, event_id::text, topic, key, value, headers
FROM outbox ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED
"""


def _record(row: asyncpg.Record) -> OutboxRecord:
    headers = [(name, value.encode()) for name, value in row["headers"]]
    return OutboxRecord(
        id=row["id"],
        event_id=row["event_id"],
        topic=row["topic"],
        key=bytes(row["key"]),
        value=bytes(row["value"]),
        headers=headers,
    )


@dataclass
class RelaySettings:
    batch_size: int = 500
    poll_interval: float = 1.0
    max_backoff: float = 30.0
    publish_timeout: float = 30.0


class OutboxRelay:
    """Publishes a service's outbox to Kafka; run `run()` as a background task."""

    def __init__(
        self,
        *,
        dsn: str,
        schema: str,
        publisher: RecordPublisher,
        metrics: OutboxMetrics | None = None,
        settings: RelaySettings | None = None,
    ) -> None:
        self._dsn = dsn
        self._schema = schema
        self._publisher = publisher
        self._metrics = metrics
        self._settings = settings or RelaySettings()
        self._wakeup = asyncio.Event()
        self.is_leader = False
        self._last_backlog_report = float("-inf")

    async def run_forever(self) -> None:
        """`run`, restarted after any failure with capped backoff: a lost database session
        takes the leader lock with it, and a fresh session must compete for it again."""
        failures = 0
        while True:
            started = time.monotonic()
            try:
                await self.run()
            except Exception as error:
                log.warning(
                    "outbox relay stopped, restarting",
                    schema=self._schema,
                    error=type(error).__name__,
                )
            # A relay that ran a while before failing starts again quickly.
            failures = 1 if time.monotonic() - started > 60 else failures + 1
            await asyncio.sleep(
                exponential_backoff(failures + 1, first=0.5, cap=self._settings.max_backoff)
            )

    async def run(self) -> None:
        # A dedicated session, not a pooled connection: it holds the leader lock and LISTENs.
        conn = await asyncpg.connect(self._dsn, server_settings={"search_path": self._schema})
        await register_json_codecs(conn)
        try:
            await self._become_leader(conn)
            await conn.add_listener(notify_channel(self._schema), self._on_notify)
            await self._relay_forever(conn)
        finally:
            self.is_leader = False
            with contextlib.suppress(Exception):
                await asyncio.shield(conn.close())

    def _on_notify(self, *_: object) -> None:
        self._wakeup.set()

    async def _become_leader(self, conn: asyncpg.Connection) -> None:
        lock_key = f"retour.outbox.{self._schema}"
        # No notification exists for "a lock was released": standbys poll for it.
        while True:
            if await conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", lock_key):
                break
            await asyncio.sleep(self._settings.poll_interval)
        self.is_leader = True
        log.info("outbox relay is the leader", schema=self._schema)

    async def _relay_forever(self, conn: asyncpg.Connection) -> None:
        failures = 0
        while True:
            await self._report_backlog(conn)
            self._wakeup.clear()
            try:
                published = await self.relay_batch(conn)
                failures = 0
            except Exception as error:
                failures += 1
                delay = exponential_backoff(failures + 1, first=0.2, cap=self._settings.max_backoff)
                log.warning(
                    "outbox publish failed, will retry",
                    schema=self._schema,
                    error=type(error).__name__,
                    retry_in_s=round(delay, 2),
                )
                if self._metrics:
                    self._metrics.publish_failed()
                await asyncio.sleep(delay)
                continue
            if published < self._settings.batch_size:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._settings.poll_interval):
                        await self._wakeup.wait()

    async def relay_batch(self, conn: asyncpg.Connection) -> int:
        """Claim, publish and delete one batch; returns how many rows were published."""
        async with conn.transaction():
            rows = await conn.fetch(_CLAIM, self._settings.batch_size)
            if not rows:
                return 0
            records = [_record(row) for row in rows]
            async with asyncio.timeout(self._settings.publish_timeout):
                await self._publisher.publish_all(records)
            await conn.execute(
                "DELETE FROM outbox WHERE id = ANY($1::bigint[])", [r.id for r in records]
            )
        if self._metrics:
            self._metrics.published(len(records))
        return len(records)

    async def _report_backlog(self, conn: asyncpg.Connection) -> None:
        # Counting is cheap but not free: at most once a second, even while draining a backlog.
        now = time.monotonic()
        if not self._metrics or now - self._last_backlog_report < 1.0:
            return
        self._last_backlog_report = now
        row = await conn.fetchrow("SELECT count(*) AS size, min(created_at) AS oldest FROM outbox")
        size, oldest = (row["size"], row["oldest"]) if row else (0, None)
        age = 0.0 if oldest is None else max(0.0, time.time() - oldest.timestamp())
        self._metrics.backlog(size, age)
