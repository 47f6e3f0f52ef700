"""The ledger as the HTTP API shows it: statuses, never addresses or texts."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

MAX_ROWS = 500

_OF_RETURNEE = """
SELECT notification_id, event_id, event_type, rule, channel, recipient, template, language,
       status, attempts, last_error, segments, created_at, sent_at, finished_at,
       CASE WHEN status = 'queued' THEN next_attempt_at END AS next_attempt_at
FROM deliveries WHERE returnee_id = $1
ORDER BY created_at, notification_id
LIMIT $2
"""


async def notifications_of(pool: asyncpg.Pool, returnee_id: UUID) -> list[dict[str, Any]]:
    return [dict(row) for row in await pool.fetch(_OF_RETURNEE, returnee_id, MAX_ROWS)]
