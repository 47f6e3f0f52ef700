"""The ledger as the HTTP API shows it: statuses, never addresses or texts."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from retour_kit.db import Connection

MAX_ROWS = 500

_OF_RETURNEE = """
SELECT notification_id, event_id, event_type, rule, channel, recipient, template, language,
       status, attempts, last_error, segments, created_at, sent_at, finished_at,
       delivery_report, reported_at,
       CASE WHEN status = 'queued' THEN next_attempt_at END AS next_attempt_at
FROM deliveries WHERE returnee_id = $1
  AND ($3::text[] IS NULL OR EXISTS (
        SELECT 1 FROM contacts c WHERE c.returnee_id = $1 AND c.reception_centre = ANY($3)))
ORDER BY created_at, notification_id
LIMIT $2
"""


class PgLedgerViews:
    """The read side of one unit of work's connection."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def notifications_of(
        self, returnee_id: UUID, *, centres: list[str] | None
    ) -> list[dict[str, Any]]:
        """The returnee's notifications, if registered at one of ``centres`` (None: any).
        The centre comes from the contacts row, which is kept (without the phone) for good."""
        rows = await self._conn.fetch(_OF_RETURNEE, returnee_id, MAX_ROWS, centres)
        return [dict(row) for row in rows]
