"""The delivery ledger as the consumer writes it, inside the event's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from retour_kit.consuming import DbConnection
from retour_notifications.domain.delivery import Notification, Status
from retour_notifications.domain.rules import Channel

# ON CONFLICT DO NOTHING: a row already there (another consumer group, a replay) is kept as
# it is, whatever its status; this is what makes a redelivered event send nothing.
_ADD = """
INSERT INTO deliveries (notification_id, event_id, event_type, rule, channel, recipient,
    returnee_id, template, status, language, address, subject, body, segments, encoding,
    context, last_error, finished_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
        CASE WHEN $9 = 'failed' THEN now() END)
ON CONFLICT (notification_id) DO NOTHING
RETURNING 1
"""

_HELD = """
SELECT notification_id, event_id, event_type, rule, channel, recipient, returnee_id, template,
    status, language, address, subject, body, segments, encoding, context, last_error
FROM deliveries WHERE returnee_id = $1 AND status = 'held'
"""

_RELEASE = """
UPDATE deliveries SET status = $2, language = $3, address = $4, subject = $5, body = $6,
    segments = $7, encoding = $8, last_error = $9, context = NULL, next_attempt_at = now(),
    finished_at = CASE WHEN $2 = 'failed' THEN now() END
WHERE notification_id = $1 AND status = 'held'
"""


class PgLedger:
    def __init__(self, conn: DbConnection) -> None:
        self._conn = conn

    async def add(self, notifications: Sequence[Notification]) -> int:
        added = 0
        for row in notifications:
            if await self._conn.fetchval(_ADD, *_values(row)):
                added += 1
        return added

    async def held_for(self, returnee_id: UUID) -> list[Notification]:
        rows = await self._conn.fetch(_HELD, returnee_id)
        return [_notification(dict(row)) for row in rows]

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
        n.context,
        n.last_error,
    )


def _notification(row: dict[str, object]) -> Notification:
    row["channel"] = Channel(str(row["channel"]))
    row["status"] = Status(str(row["status"]))
    return Notification(**row)  # type: ignore[arg-type]
