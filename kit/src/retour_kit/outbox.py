"""Transactional outbox: events are stored with the state change that caused them, then relayed.

Write path: `enqueue` inserts the outbox row inside the caller's transaction, so a registration
and its event commit together or not at all; Kafka being down never fails the request.

Relay, and why it is shaped like this:
- Only one relay per service publishes at a time (a Postgres advisory lock held by a session
  connection). Two relays claiming disjoint batches could publish two events of one returnee
  out of order; with one leader, order per key is the order of the outbox ids. When the leader
  dies its connection closes, the lock is released and a standby instance takes over.
- Leadership survives what a lock alone does not (`RelaySettings.lease_seconds`, 10 s):
  the leader's session runs with `idle_session_timeout` and
  `idle_in_transaction_session_timeout` at the lease, and the leader speaks at least every
  `poll_interval` (less than a third of it). A leader that freezes (SIGSTOP, a stalled VM: its
  kernel still answers TCP keepalives) or loses its network falls silent, and Postgres itself
  ends its session, rolling back its batch and releasing the lock. A leader frozen while the
  server writes to it (a claimed batch, notifications) leaves the server blocked in that
  write, where no idle timer reaches it: `tcp_user_timeout`, also the lease, closes it. A
  leader frozen halfway through a statement's messages leaves its session "active" and
  waiting for it, which nothing on the server ends: a standby ends that session after a lease
  (`_END_STALLED_LEADER`).
  A leader that reaches Postgres but not Kafka steps down after `kafka_give_up_seconds` of
  failing, and sits out a lease before it competes again, so a replica that can reach Kafka
  takes over.
- Every batch transaction runs on the session that holds the lock, and first proves it still
  holds it: the batches of two leaders never overlap (the old session's row locks go with it),
  so a new leader never skips rows an old one had claimed, and order per key stays outbox order.
- Fencing: a new leader starts a fresh transactional producer before it publishes
  (`retour_kit.kafka_publisher`), which aborts and fences a previous leader's producer; each
  batch is one Kafka transaction. A leader that wakes up after losing its session cannot append
  what its producer still holds, and cannot delete rows either (its session is gone).
- Rows are claimed with `FOR UPDATE` in id order (never "id greater than the last seen":
  identities are allocated before commit, so such a cursor skips rows that commit late). No
  `SKIP LOCKED`: only the leader locks outbox rows, and skipping a row someone still held would
  publish a later event of its key first.
- Rows are deleted in the same transaction that claimed them, and only after the broker has
  acknowledged every record of the batch and committed its Kafka transaction (acks=all,
  idempotent, transactional producer). A crash in between
  rolls the transaction back and the rows are published again: at-least-once, duplicates
  recognisable by their ce_id, nothing lost.
- The relay wakes on LISTEN/NOTIFY (the NOTIFY is sent by the writing transaction and delivered
  only if it commits) and polls as a fallback, because LISTEN connections can drop silently.
- While Kafka is unreachable the batch fails, the transaction rolls back, and the relay retries
  (backoff capped at the poll interval) until it steps down; leadership then goes round the
  replicas, a lease each, and the backlog drains when the broker returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol, runtime_checkable

import asyncpg
import structlog

from retour_contracts import Envelope
from retour_kit.db import Connection, DatabaseLimits, connect
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


@runtime_checkable
class FencingPublisher(RecordPublisher, Protocol):
    """A publisher that can fence the publishers of earlier leaders (transactional Kafka)."""

    async def take_over(self) -> None:
        """Called once leadership is won, before any publication: fences earlier leaders."""

    async def step_down(self) -> None:
        """Called when leadership is given up or lost: drops what this leader still holds."""


class OutboxMetrics(Protocol):
    def published(self, count: int) -> None: ...
    def publish_failed(self) -> None: ...
    def backlog(self, size: int, oldest_age_seconds: float) -> None: ...
    def leading(self, is_leader: bool) -> None: ...


def notify_channel(schema: str) -> str:
    return f"{schema}{NOTIFY_CHANNEL_SUFFIX}"


def _header_value(envelope: Envelope, name: str) -> str:
    for header, value in envelope.headers:
        if header == name:
            return value.decode()
    raise ValueError(f"envelope has no {name} header")


async def enqueue(conn: Connection, envelope: Envelope, *, topic: str) -> None:
    """Store an event for publication; call inside the transaction of the state change.

    `conn` must come from `retour_kit.db` (json/jsonb codecs registered), its search path
    on the service's schema: the row goes to that schema's outbox, and the NOTIFY to that
    schema's relay (``current_schema()``: a service moved to another schema, a test's or a
    benchmark's, wakes its own relay, not the one of the schema it is usually in).
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
        NOTIFY_CHANNEL_SUFFIX,
    )


_ENQUEUE = """
WITH queued AS (
    INSERT INTO outbox (event_id, topic, key, value, headers) VALUES ($1, $2, $3, $4, $5)
)
SELECT pg_notify(current_schema() || $6, '')
"""


async def enqueue_many(conn: Connection, envelopes: Sequence[Envelope]) -> None:
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
        NOTIFY_CHANNEL_SUFFIX,
    )


_ENQUEUE_MANY = """
WITH queued AS (
    INSERT INTO outbox (event_id, topic, key, value, headers)
    SELECT event_id, topic, key, value, headers::jsonb
    FROM unnest($1::uuid[], $2::text[], $3::bytea[], $4::bytea[], $5::text[])
         WITH ORDINALITY AS emitted (event_id, topic, key, value, headers, position)
    ORDER BY position
)
SELECT pg_notify(current_schema() || $6, '')
"""


_CLAIM = """
SELECT id, event_id::text, topic, key, value, headers
FROM outbox ORDER BY id LIMIT $1 FOR UPDATE
"""

# pg_try_advisory_lock(bigint) shows in pg_locks as classid (high 32 bits), objid (low 32
# bits) and objsubid 1. The key is hashtext's int4, as earlier releases took it: relays of two
# releases side by side during a rolling deploy compete for the same lock.
_TRY_LOCK = "SELECT pg_try_advisory_lock(hashtext($1))"
# That lock, granted, as a row `l` of pg_locks shows it: the one spelling of the key's encoding.
_OUR_LOCK_HELD = """
l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
AND ((l.classid::bigint << 32) | l.objid::bigint) = hashtext($1)::bigint
"""

_STILL_HOLDS_LOCK = f"""
SELECT EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = pg_backend_pid() AND {_OUR_LOCK_HELD})
"""  # noqa: S608 (constant fragments only; every value is a parameter)

# A leader frozen halfway through a statement's messages (between a Parse and its Sync: asyncpg
# prepares a statement, reads its description, then sends the rest) leaves its session
# "active", waiting for the client: no idle timer reaches it, a statement timeout is not acted
# on while the server reads from the client, and the frozen kernel still acknowledges, so
# neither keepalives nor tcp_user_timeout end it. It would hold the lock for good (seen: once in
# 36 drills). A live leader finishes each statement at once and speaks every poll_interval, so
# a holder of our lock waiting in that state for a whole lease is not coming back: a standby
# ends its session (same role: allowed), which rolls its batch back and frees the lock.
_END_STALLED_LEADER = f"""
SELECT count(pg_terminate_backend(a.pid))
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE {_OUR_LOCK_HELD}
  AND a.state = 'active' AND a.wait_event_type = 'Client' AND a.wait_event = 'ClientRead'
  AND a.state_change < now() - make_interval(secs => $2)
"""  # noqa: S608 (constant fragments only; every value is a parameter)


class LeadershipLostError(RuntimeError):
    """The relay's session no longer holds the leader lock: it must not publish."""


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


@dataclass(frozen=True)
class RelaySettings:
    """How the relay publishes, and how soon its leadership moves (see the module docstring).

    Defaults: a frozen or cut-off leader is replaced within about ``lease_seconds`` plus a
    ``poll_interval`` (11 s); one that cannot reach Kafka within about ``kafka_give_up_seconds``
    plus a ``publish_timeout`` plus a ``poll_interval`` (19 s): both under 30 s.
    """

    batch_size: int = 500
    poll_interval: float = 1.0
    max_backoff: float = 30.0
    publish_timeout: float = 8.0
    lease_seconds: float = 10.0
    kafka_give_up_seconds: float = 10.0

    def __post_init__(self) -> None:
        # The session is ended by the server after a lease of silence: the leader speaks (a
        # poll, a claim) at least every poll_interval, and a publication keeps its batch's
        # transaction idle for up to publish_timeout.
        if self.poll_interval * 3 > self.lease_seconds:
            raise ValueError("poll_interval must be at most a third of lease_seconds")
        if self.publish_timeout >= self.lease_seconds:
            raise ValueError("publish_timeout must be shorter than lease_seconds")

    @classmethod
    def for_lease(
        cls, lease_seconds: float, *, kafka_give_up_seconds: float, batch_size: int = 500
    ) -> RelaySettings:
        """Settings whose poll interval and publish time limit fit within ``lease_seconds``."""
        return cls(
            batch_size=batch_size,
            poll_interval=min(1.0, lease_seconds / 4),
            publish_timeout=lease_seconds * 0.8,
            lease_seconds=lease_seconds,
            kafka_give_up_seconds=kafka_give_up_seconds,
        )

    def session_limits(self, limits: DatabaseLimits) -> DatabaseLimits:
        """The relay session's limits: the service's, with the lease as the server's timers."""
        return replace(
            limits,
            idle_session_timeout_seconds=self.lease_seconds,
            idle_in_transaction_timeout_seconds=self.lease_seconds,
            tcp_user_timeout_seconds=self.lease_seconds,
        )


class _SteppedDown(Exception):
    """The leader gave up publishing: its session is closed and it sits out a lease."""


class OutboxRelay:
    """Publishes a service's outbox to Kafka; run `run_forever()` as a background task."""

    def __init__(
        self,
        *,
        dsn: str,
        schema: str,
        publisher: RecordPublisher,
        metrics: OutboxMetrics | None = None,
        settings: RelaySettings | None = None,
        limits: DatabaseLimits | None = None,
        application_name: str | None = None,
    ) -> None:
        self._dsn = dsn
        self._schema = schema
        self._publisher = publisher
        self._metrics = metrics
        self._settings = settings or RelaySettings()
        self._limits = self._settings.session_limits(limits or DatabaseLimits())
        self._application_name = application_name
        self._lock_key = f"retour.outbox.{schema}"
        self._wakeup = asyncio.Event()
        self.is_leader = False
        self.terms = 0
        """How many times this relay became the leader."""
        self._last_backlog_report = float("-inf")

    async def run_forever(self) -> None:
        """`run`, restarted after any failure with capped backoff: a lost database session
        takes the leader lock with it, and a fresh session must compete for it again."""
        failures = 0
        while True:
            started = time.monotonic()
            try:
                await self.run()
            except _SteppedDown:
                # Not a failure of this relay's own: give the other replicas a lease to win.
                failures = 0
                await asyncio.sleep(self._settings.lease_seconds)
                continue
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
        conn = await connect(
            self._dsn,
            search_path=self._schema,
            application_name=self._application_name,
            limits=self._limits,
        )
        try:
            await self._become_leader(conn)
            await conn.add_listener(notify_channel(self._schema), self._on_notify)
            await self._relay_forever(conn)
        finally:
            self._set_leading(False)
            if isinstance(self._publisher, FencingPublisher):
                with contextlib.suppress(Exception):
                    await asyncio.shield(self._publisher.step_down())
            with contextlib.suppress(Exception):
                await asyncio.shield(conn.close())

    def _on_notify(self, *_: object) -> None:
        self._wakeup.set()

    def _set_leading(self, is_leader: bool) -> None:
        if is_leader == self.is_leader:
            return
        self.is_leader = is_leader
        if is_leader:
            self.terms += 1
        if self._metrics:
            self._metrics.leading(is_leader)

    async def _become_leader(self, conn: asyncpg.Connection) -> None:
        # No notification exists for "a lock was released": standbys poll for it, every
        # poll_interval, which also keeps their session from being ended as idle.
        while True:
            if await conn.fetchval(_TRY_LOCK, self._lock_key):
                break
            await conn.fetchval(_END_STALLED_LEADER, self._lock_key, self._settings.lease_seconds)
            await asyncio.sleep(self._settings.poll_interval)
        self._set_leading(True)
        log.info("outbox relay is the leader", schema=self._schema, term=self.terms)

    async def _relay_forever(self, conn: asyncpg.Connection) -> None:
        failures = 0
        failing_since: float | None = None
        fenced = False
        while True:
            attempt_started = time.monotonic()
            try:
                await self._report_backlog(conn)
                self._wakeup.clear()
                if not fenced:
                    await self._take_over()
                    fenced = True
                published = await self.relay_batch(conn)
                failures, failing_since = 0, None
            except Exception as error:
                if conn.is_closed() or isinstance(error, LeadershipLostError):
                    raise  # the session, and the lock with it, is gone: compete again
                failures += 1
                failing_since = failing_since or attempt_started
                await self._after_failure(conn, error, failures, failing_since)
                continue
            if published < self._settings.batch_size:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._settings.poll_interval):
                        await self._wakeup.wait()

    async def _take_over(self) -> None:
        if isinstance(self._publisher, FencingPublisher):
            async with asyncio.timeout(self._settings.publish_timeout):
                await self._publisher.take_over()

    async def _after_failure(
        self, conn: asyncpg.Connection, error: Exception, failures: int, failing_since: float
    ) -> None:
        # Also the session's sign of life while Kafka fails: no batch reached the database.
        if not await conn.fetchval(_STILL_HOLDS_LOCK, self._lock_key):
            raise LeadershipLostError(f"the relay of {self._schema} lost its leader lock")
        if self._metrics:
            self._metrics.publish_failed()
        failing_for = time.monotonic() - failing_since
        if failing_for >= self._settings.kafka_give_up_seconds:
            log.warning(
                "outbox relay cannot publish, stepping down",
                schema=self._schema,
                error=type(error).__name__,
                failing_for_s=round(failing_for, 1),
            )
            raise _SteppedDown  # closing the session releases the lock
        # Capped at the poll interval: the session must not fall silent for a lease.
        delay = exponential_backoff(failures + 1, first=0.2, cap=self._settings.poll_interval)
        log.warning(
            "outbox publish failed, will retry",
            schema=self._schema,
            error=type(error).__name__,
            retry_in_s=round(delay, 2),
        )
        await asyncio.sleep(delay)

    async def relay_batch(self, conn: asyncpg.Connection) -> int:
        """Claim, publish and delete one batch; returns how many rows were published."""
        async with conn.transaction():
            if not await conn.fetchval(_STILL_HOLDS_LOCK, self._lock_key):
                raise LeadershipLostError(f"the relay of {self._schema} lost its leader lock")
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
