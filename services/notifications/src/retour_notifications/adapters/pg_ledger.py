"""The delivery ledger as the consumer writes it, inside the event's transaction."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from uuid import UUID

from retour_kit.db import Connection, rows_affected
from retour_notifications.domain.delivery import Notification, Status
from retour_notifications.domain.rules import Channel

# ON CONFLICT DO NOTHING: a row already there (another consumer group, a replay) is kept as
# it is, whatever its status; this is what makes a redelivered event send nothing.
# One statement for a whole batch: one array per column, zipped back into rows by unnest.
# The context travels as JSON text (asyncpg has no codec for arrays of jsonb).
# A queued row is claimed once next_attempt_at has passed: a greeting waiting for a duplicate
# review (not_before) is simply not due yet, and a merge can still cancel it.
_ADD = """
INSERT INTO deliveries (notification_id, event_id, event_type, rule, channel, recipient,
    returnee_id, template, status, language, address, subject, body, segments, encoding,
    context, last_error, finished_at, next_attempt_at)
SELECT n.notification_id, n.event_id, n.event_type, n.rule, n.channel, n.recipient,
    n.returnee_id, n.template, n.status, n.language, n.address, n.subject, n.body, n.segments,
    n.encoding, n.context::jsonb, n.last_error, CASE WHEN n.status = 'failed' THEN now() END,
    coalesce(n.not_before, now())
FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[],
    $7::uuid[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[],
    $14::smallint[], $15::text[], $16::text[], $17::text[], $18::timestamptz[])
    AS n(notification_id, event_id, event_type, rule, channel, recipient, returnee_id,
         template, status, language, address, subject, body, segments, encoding, context,
         last_error, not_before)
ON CONFLICT (notification_id) DO NOTHING
RETURNING 1
"""

_HELD = """
SELECT notification_id, event_id, event_type, rule, channel, recipient, returnee_id, template,
    status, language, address, subject, body, segments, encoding, context, last_error
FROM deliveries WHERE returnee_id = ANY($1::uuid[]) AND status = 'held'
"""

_RELEASE = """
UPDATE deliveries SET status = $2, language = $3, address = $4, subject = $5, body = $6,
    segments = $7, encoding = $8, last_error = $9, context = NULL, next_attempt_at = now(),
    finished_at = CASE WHEN $2 = 'failed' THEN now() END
WHERE notification_id = $1 AND status = 'held'
"""


# A corrected phone: the SMS not sent yet go to the new number. A row in a sender's hands
# (sending) keeps its current attempt, but a retry reads the address again, so it takes the
# new one too.
_READDRESS = """
UPDATE deliveries SET address = $2
WHERE returnee_id = $1 AND channel = 'sms' AND status IN ('queued', 'sending')
"""

# How every cancellation finishes a message (an erasure, a withdrawn consent, a merge, a removed
# phone, a visit that stopped; $2 is the reason): its address and text go at once, and it is
# never sent or queued again. A message still waiting (held, queued) is `failed`. One in a
# sender's hands (sending) may already be with the gateway, so it becomes `uncertain`, not
# `failed`: the sender's outcome for that claim still settles it (sent if the gateway took it,
# failed if it did not, see pg_queue.py), and so does a delivery report. Calling it failed
# would make the ledger deny a message that reached the phone. Its `sending_since` stays, so a
# sender that dies before answering is found like any other (pg_queue.py, fail_interrupted).
# Statements alias the table `d`.
CANCELLED = """
SET status = CASE WHEN d.status = 'sending' THEN 'uncertain' ELSE 'failed' END,
    uncertain_since = CASE WHEN d.status = 'sending' THEN now() END,
    finished_at = CASE WHEN d.status = 'sending' THEN NULL ELSE now() END,
    last_error = $2, address = NULL, subject = NULL, body = NULL, context = NULL
"""

# A phone removed: like a withdrawal of consent (pg_protection.py), the SMS still waiting or in
# a sender's hands are cancelled.
_CANCEL_SMS = f"""
UPDATE deliveries d {CANCELLED}
WHERE returnee_id = $1 AND channel = 'sms' AND status IN ('queued', 'sending')
"""

PHONE_REMOVED = "phone number removed"

# Messages for a monitoring visit that stopped (recorded, or its case closed) are cancelled.
# Returns which of them had not reached a sender yet (held or queued): a reminder of those
# never left, so a visit re-armed later may be reminded; one in a sender's hands may have.
_CANCEL_WAITING = f"""
UPDATE deliveries d {CANCELLED}
FROM (
    SELECT notification_id, status FROM deliveries
    WHERE notification_id = ANY($1::uuid[]) AND status IN ('held', 'queued', 'sending')
    FOR UPDATE
) waiting
WHERE d.notification_id = waiting.notification_id
RETURNING d.notification_id, waiting.status <> 'sending' AS unsent
"""  # noqa: S608 (constant fragments only; every value is a parameter)


class PgLedger:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def add(self, notifications: Sequence[Notification]) -> int:
        if not notifications:
            return 0
        columns = [list(column) for column in zip(*map(_values, notifications), strict=True)]
        return len(await self._conn.fetch(_ADD, *columns))

    async def held_for(self, returnee_ids: Collection[UUID]) -> list[Notification]:
        if not returnee_ids:
            return []
        rows = await self._conn.fetch(_HELD, list(returnee_ids))
        return [notification_of(dict(row)) for row in rows]

    async def release(self, notification: Notification) -> None:
        n = notification
        await self._conn.execute(
            _RELEASE,
            n.notification_id,
            n.status.value,
            n.language,
            n.address,
            n.subject,
            n.body,
            n.segments,
            n.encoding,
            n.last_error,
        )

    async def drop(self, notification_id: UUID) -> None:
        await self._conn.execute(
            "DELETE FROM deliveries WHERE notification_id = $1 AND status = 'held'",
            notification_id,
        )

    async def cancel(self, notification_ids: Collection[UUID], reason: str) -> set[UUID]:
        """Cancels those of these notifications still waiting; returns the ones that had not
        reached a sender."""
        if not notification_ids:
            return set()
        rows = await self._conn.fetch(_CANCEL_WAITING, list(notification_ids), reason)
        return {row["notification_id"] for row in rows if row["unsent"]}

    async def readdress_sms(self, returnee_id: UUID, phone: str | None) -> int:
        if phone is None:
            return rows_affected(await self._conn.execute(_CANCEL_SMS, returnee_id, PHONE_REMOVED))
        return rows_affected(await self._conn.execute(_READDRESS, returnee_id, phone))


def _values(n: Notification) -> tuple[object, ...]:
    return (
        n.notification_id,
        n.event_id,
        n.event_type,
        n.rule,
        n.channel.value,
        n.recipient,
        n.returnee_id,
        n.template,
        n.status.value,
        n.language,
        n.address,
        n.subject,
        n.body,
        n.segments,
        n.encoding,
        None if n.context is None else json.dumps(n.context),
        n.last_error,
        n.not_before,
    )


def notification_of(row: dict[str, object]) -> Notification:
    """A notification from a row of ``deliveries`` (the columns of a Notification)."""
    row["channel"] = Channel(str(row["channel"]))
    row["status"] = Status(str(row["status"]))
    return Notification(**row)  # type: ignore[arg-type]
