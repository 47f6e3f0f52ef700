"""What erasures and consent changes do to notifications' tables, on one connection."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from uuid import UUID

from retour_kit.db import Connection, rows_affected
from retour_notifications.domain.contacts import Refusals

# Messages still waiting are finished as failed, their text and address gone: the row stays so
# that the event that called for it, read again, finds it and records nothing new. A message in
# a sender's hands (sending) is finished too: the sender's outcome is fenced on
# status = 'sending', so a timeout afterwards cannot queue it again for another attempt.
_CANCEL = """
UPDATE deliveries
SET status = 'failed', last_error = $2, finished_at = now(),
    address = NULL, subject = NULL, body = NULL, context = NULL
WHERE returnee_id = $1 AND status IN ('held', 'queued', 'sending')
  AND ($3::text IS NULL OR channel = $3)
"""

# Topics are consumed side by side, by several replicas: a registration's batch and the erasure
# of the same person can run at once in two transactions, each blind to the other's uncommitted
# rows. Both take this per-returnee lock first (in hash order, so two batches never wait on each
# other in a cycle), and the later one sees what the earlier one committed.
_LOCK_RETURNEES = """
SELECT pg_advisory_xact_lock(hashtext('notifications.returnee'), key)
FROM (SELECT DISTINCT hashtext(id::text) AS key FROM unnest($1::uuid[]) AS id) keys
ORDER BY key
"""

_REMEMBER_CONSENT = """
INSERT INTO sms_consent_changes (returnee_id, sms_contact, changed_at) VALUES ($1, $2, $3)
ON CONFLICT (returnee_id) DO UPDATE SET sms_contact = $2, changed_at = $3
WHERE sms_consent_changes.changed_at < $3
"""

# Every consumer batch reads this: one statement for both kinds of decision.
_REFUSALS = """
SELECT id AS returnee_id, f.returnee_id IS NOT NULL AS forgotten, c.sms_contact, c.changed_at
FROM unnest($1::uuid[]) AS id
LEFT JOIN forgotten_returnees f ON f.returnee_id = id
LEFT JOIN sms_consent_changes c ON c.returnee_id = id
WHERE f.returnee_id IS NOT NULL OR c.returnee_id IS NOT NULL
"""


class PgProtection:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def forget(self, returnee_id: UUID, erased_at: datetime) -> int:
        """Forgets the person's contact and cancels what waited for them; returns how many
        messages were cancelled."""
        await self._conn.execute(_LOCK_RETURNEES, [returnee_id])
        await self._conn.execute(
            "INSERT INTO forgotten_returnees (returnee_id, erased_at) VALUES ($1, $2)"
            " ON CONFLICT DO NOTHING",
            returnee_id,
            erased_at,
        )
        await self._conn.execute("DELETE FROM contacts WHERE returnee_id = $1", returnee_id)
        return rows_affected(
            await self._conn.execute(_CANCEL, returnee_id, "returnee erased", None)
        )

    async def change_sms_consent(
        self, returnee_id: UUID, sms_contact: bool, changed_at: datetime
    ) -> int:
        """Applies a newer SMS consent; a withdrawal drops the phone number and cancels the
        SMS still waiting. Returns how many were cancelled."""
        await self._conn.execute(_LOCK_RETURNEES, [returnee_id])
        remembered = rows_affected(
            await self._conn.execute(_REMEMBER_CONSENT, returnee_id, sms_contact, changed_at)
        )
        if not remembered:
            return 0  # an older change read late: the newer one already decided
        if sms_contact:
            # Consent given back: the number was not kept, so SMS resume only once a
            # registration (or a later correction) brings one.
            await self._conn.execute(
                "UPDATE contacts SET sms_consent = true WHERE returnee_id = $1", returnee_id
            )
            return 0
        await self._conn.execute(
            "UPDATE contacts SET sms_consent = false, phone = NULL WHERE returnee_id = $1",
            returnee_id,
        )
        return rows_affected(
            await self._conn.execute(_CANCEL, returnee_id, "sms consent withdrawn", "sms")
        )

    async def refusals(self, returnee_ids: Collection[UUID]) -> Refusals:
        if not returnee_ids:
            return Refusals()
        ids = list(returnee_ids)
        # Held until the batch commits: an erasure of one of them waits, then sees its rows.
        await self._conn.execute(_LOCK_RETURNEES, ids)
        # Read after the lock, in a statement of its own: its snapshot must see what an erasure
        # that held the lock first has committed.
        rows = await self._conn.fetch(_REFUSALS, ids)
        return Refusals(
            forgotten=frozenset(row["returnee_id"] for row in rows if row["forgotten"]),
            sms_changes={
                row["returnee_id"]: (row["sms_contact"], row["changed_at"])
                for row in rows
                if row["changed_at"] is not None
            },
        )
