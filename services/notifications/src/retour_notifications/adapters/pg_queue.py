"""The delivery ledger as senders use it: claim a due row, record its outcome.

Each statement commits on its own; no transaction stays open while a gateway is called, so a
slow gateway holds no lock and no pooled connection. A claimed row is marked ``sending``
(committed) before the gateway is called, which is what lets a crash be told apart from a row
that was never tried: see ``fail_interrupted``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

import asyncpg

from retour_kit.retention import BATCH_ROWS, delete_in_batches
from retour_notifications.domain.delivery import Claimed, Outcome, OutgoingMessage, Status
from retour_notifications.domain.delivery_reports import ReportedDelivery
from retour_notifications.domain.rules import Channel

# A paced sender reserves the slot of its message at most this far ahead: it then waits for
# it holding a `sending` row, which must stay well within SENDING_LEASE_SECONDS.
PACING_HORIZON_SECONDS = 1.0

# SKIP LOCKED: concurrent senders (tasks, replicas) each take a different row instead of
# queueing behind one another's lock.
_CLAIM = """
UPDATE deliveries SET status = 'sending', attempts = attempts + 1, sending_since = now()
WHERE notification_id = (
    SELECT notification_id FROM deliveries
    WHERE status = 'queued' AND channel = $1 AND next_attempt_at <= now()
    ORDER BY next_attempt_at
    LIMIT 1
    FOR UPDATE SKIP LOCKED
)
RETURNING notification_id, returnee_id, attempts, address, subject, body, encoding
"""

# The shared pace (migration 0010): the row of the channel is locked for the length of the
# claim's transaction, so the claims of every replica take their slots one after the other.
_ENSURE_PACE = "INSERT INTO send_pacing (channel) VALUES ($1) ON CONFLICT DO NOTHING"
_NEXT_SLOT = """
SELECT extract(epoch FROM greatest(next_slot, clock_timestamp()) - clock_timestamp())::float8
    AS wait_seconds
FROM send_pacing WHERE channel = $1 FOR UPDATE
"""
_TAKE_SLOT = """
UPDATE send_pacing SET next_slot = greatest(next_slot, clock_timestamp()) + $2::interval
WHERE channel = $1
"""

# `attempts = $2` fences an outcome to the claim that produced it. Its row is `sending`, or
# `uncertain` if a cancellation (an erasure, a merge, ...: pg_ledger.CANCELLED) came while the
# gateway had it: the outcome still says what became of the message, next to the
# cancellation's reason, but such a row is never queued again and keeps neither address nor
# text. The row's status as recorded is returned (a retry may have become a failure).
_OUR_CLAIM = "notification_id = $1 AND attempts = $2 AND status IN ('sending', 'uncertain')"

_FINISH = f"""
UPDATE deliveries SET status = $3, sending_since = NULL,
    last_error = CASE WHEN status = 'sending' THEN $4
        ELSE concat_ws('; ', last_error, $4::text) END,
    sent_at = CASE WHEN $3 = 'sent' THEN now() END, finished_at = now(),
    address = NULL, subject = NULL, body = NULL
WHERE {_OUR_CLAIM}
RETURNING status
"""  # noqa: S608 (constant fragments only; every value is a parameter)

# The gateway did not take it: queued for another attempt, unless it was cancelled meanwhile
# (then nothing was sent, and nothing will be: failed, for the cancellation's reason).
_RETRY = f"""
UPDATE deliveries SET sending_since = NULL,
    status = CASE WHEN status = 'uncertain' THEN 'failed' ELSE 'queued' END,
    last_error = CASE WHEN status = 'uncertain' THEN last_error ELSE $3 END,
    finished_at = CASE WHEN status = 'uncertain' THEN now() END,
    next_attempt_at = now() + $4::interval
WHERE {_OUR_CLAIM}
RETURNING status
"""  # noqa: S608 (constant fragments only; every value is a parameter)

# The gateway may have taken the message: it keeps neither address nor text, is never queued
# again, and waits for its delivery report. A report that came in first (Kannel calls back as
# soon as its SMS centre takes the message, possibly before the sender gave up waiting for
# the answer) settles it at once. A row already uncertain (cancelled in the sender's hands, or
# this very statement run again after a reply lost on the way) keeps its reason and its time.
_UNCERTAIN = f"""
UPDATE deliveries SET sending_since = NULL,
    last_error = CASE WHEN status = 'sending' THEN $3 ELSE last_error END,
    uncertain_since = coalesce(uncertain_since, now()),
    status = CASE WHEN delivery_report IS NULL THEN 'uncertain'
        WHEN delivery_report = ANY($4::text[]) THEN 'failed' ELSE 'sent' END,
    sent_at = CASE WHEN delivery_report <> ALL($4::text[]) THEN now() END,
    finished_at = CASE WHEN delivery_report IS NOT NULL THEN now() END,
    address = NULL, subject = NULL, body = NULL
WHERE {_OUR_CLAIM}
RETURNING status
"""  # noqa: S608 (constant fragments only; every value is a parameter)

FAILING_REPORTS = [r.value for r in ReportedDelivery if r.settles_as is Status.FAILED]

NO_REPORT = "no delivery report came: whether the SMS reached the phone is unknown"

_GIVE_UP_UNCERTAIN = """
UPDATE deliveries SET status = 'ambiguous', last_error = $2, finished_at = now()
WHERE status = 'uncertain' AND uncertain_since < now() - $1::interval
RETURNING channel, notification_id, returnee_id
"""

INTERRUPTED = "interrupted while sending: the gateway may have sent it, so it is not sent again"

# A row cancelled in a dead sender's hands (uncertain, its sending_since kept) is one too; it
# keeps its cancellation's reason before this one.
_FAIL_INTERRUPTED = """
UPDATE deliveries SET status = 'failed', sending_since = NULL,
    last_error = CASE WHEN status = 'sending' THEN $2
        ELSE concat_ws('; ', last_error, $2::text) END,
    finished_at = now(), address = NULL, subject = NULL, body = NULL
WHERE (status = 'sending' OR status = 'uncertain') AND sending_since < now() - $1::interval
RETURNING channel
"""

NEVER_REGISTERED = "the returnee's registration never arrived: no way to reach them"

_FAIL_HELD = """
UPDATE deliveries SET status = 'failed', last_error = $2, context = NULL, finished_at = now()
WHERE status = 'held' AND created_at < now() - $1::interval
RETURNING channel
"""

# Finished rows only: sent, failed and ambiguous are the ledger's final states (held, queued,
# sending and uncertain rows still have work to do, and are never deleted). One batch per
# statement, its own transaction, found through deliveries_finished_rows (migration 0010); the
# upkeep runs it once per RETENTION_INTERVAL_SECONDS, not at every tick.
_PRUNE_FINISHED = """
DELETE FROM deliveries WHERE ctid = ANY(ARRAY(
    SELECT ctid FROM deliveries
    WHERE status IN ('sent', 'failed', 'ambiguous') AND finished_at < now() - $1::interval
    LIMIT $2 FOR UPDATE SKIP LOCKED
))
"""

_PENDING = """
SELECT channel, status, attempts > 0 AS retrying, count(*) AS rows
FROM deliveries WHERE status IN ('held', 'queued', 'sending', 'uncertain')
GROUP BY channel, status, attempts > 0
"""


@dataclass(frozen=True)
class Paced:
    """A claimed message and how long to wait before sending it: its slot in the pace."""

    claimed: Claimed
    wait_seconds: float


def _claimed(channel: Channel, row: asyncpg.Record) -> Claimed:
    message = OutgoingMessage(
        notification_id=row["notification_id"],
        channel=channel,
        address=row["address"],
        subject=row["subject"],
        body=row["body"],
        encoding=row["encoding"],
    )
    return Claimed(message=message, returnee_id=row["returnee_id"], attempt=row["attempts"])


class PgDeliveryQueue:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @property
    def pool(self) -> asyncpg.Pool:
        return self._pool

    async def claim(self, channel: Channel) -> Claimed | None:
        row = await self._pool.fetchrow(_CLAIM, channel.value)
        return None if row is None else _claimed(channel, row)

    async def claim_paced(self, channel: Channel, per_second: float) -> Paced | None:
        """Claims a due row and reserves its send slot in one transaction, under the lock of
        the channel's pace, shared by every replica: the slots are ``1 / per_second`` apart
        whoever takes them. None when nothing is due, or when the next slot is further than
        ``PACING_HORIZON_SECONDS`` away (no row is then taken)."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(_ENSURE_PACE, channel.value)
            wait_seconds = await conn.fetchval(_NEXT_SLOT, channel.value)
            if wait_seconds > PACING_HORIZON_SECONDS:
                return None
            row = await conn.fetchrow(_CLAIM, channel.value)
            if row is None:
                return None  # no slot spent on nothing
            await conn.execute(_TAKE_SLOT, channel.value, timedelta(seconds=1 / per_second))
        return Paced(_claimed(channel, row), wait_seconds)

    async def give_up_uncertain(self, older_than: timedelta) -> list[tuple[Channel, UUID, UUID]]:
        """Uncertain rows whose delivery report did not come within ``older_than`` become
        ambiguous, for good: never sent again automatically. Returns (channel, notification
        id, returnee id) of each."""
        rows = await self._pool.fetch(_GIVE_UP_UNCERTAIN, older_than, NO_REPORT)
        return [
            (Channel(row["channel"]), row["notification_id"], row["returnee_id"]) for row in rows
        ]

    async def settle(self, outcome: Outcome) -> Status | None:
        """Records what became of a claim; returns the row's status as recorded, or None when
        the claim is no longer the row's (another outcome, an interrupted send, recorded it)."""
        if outcome.status is Status.QUEUED:
            status = await self._pool.fetchval(
                _RETRY,
                outcome.notification_id,
                outcome.attempt,
                outcome.error,
                outcome.retry_after or timedelta(0),
            )
        elif outcome.status is Status.UNCERTAIN:
            status = await self._pool.fetchval(
                _UNCERTAIN,
                outcome.notification_id,
                outcome.attempt,
                outcome.error,
                FAILING_REPORTS,
            )
        else:
            status = await self._pool.fetchval(
                _FINISH,
                outcome.notification_id,
                outcome.attempt,
                outcome.status.value,
                outcome.error,
            )
        return None if status is None else Status(status)

    async def fail_interrupted(self, older_than: timedelta) -> list[Channel]:
        """Rows left ``sending`` longer than any live send may take belong to a sender that
        died mid-call. Whether the gateway got the message is unknown; sending it again could
        deliver it twice, so the row is recorded as failed, with that reason, for a person to
        check."""
        rows = await self._pool.fetch(_FAIL_INTERRUPTED, older_than, INTERRUPTED)
        return [Channel(row["channel"]) for row in rows]

    async def fail_held(self, older_than: timedelta) -> list[Channel]:
        """Held rows whose registration did not come in time will never be sendable."""
        rows = await self._pool.fetch(_FAIL_HELD, older_than, NEVER_REGISTERED)
        return [Channel(row["channel"]) for row in rows]

    async def prune_finished(
        self,
        older_than: timedelta,
        *,
        batch_rows: int = BATCH_ROWS,
        stopping: asyncio.Event | None = None,
    ) -> int:
        """Deletes the rows that finished (sent or failed) longer than ``older_than`` ago, a
        batch at a time; returns how many."""
        return await delete_in_batches(
            self._pool, _PRUNE_FINISHED, older_than, batch_rows=batch_rows, stopping=stopping
        )

    async def pending(self) -> list[tuple[Channel, str, int]]:
        """Unfinished rows per channel and state (held, queued, retrying, sending)."""
        counts: list[tuple[Channel, str, int]] = []
        for row in await self._pool.fetch(_PENDING):
            state = "retrying" if row["status"] == "queued" and row["retrying"] else row["status"]
            counts.append((Channel(row["channel"]), state, int(row["rows"])))
        return counts
