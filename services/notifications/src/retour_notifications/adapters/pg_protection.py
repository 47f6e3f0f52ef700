"""What erasures, consent changes and merges do to notifications' tables, on one connection."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from uuid import UUID

from retour_kit.db import Connection, rows_affected
from retour_notifications.adapters.pg_ledger import CANCELLED, notification_of
from retour_notifications.domain.contacts import Refusals
from retour_notifications.domain.delivery import Notification
from retour_notifications.domain.merges import MAX_MERGE_CHAIN, MERGED, resolve_merges

# Messages still waiting or in a sender's hands are cancelled (pg_ledger.CANCELLED): their text
# and address go, and none is sent again. The row stays, so that the event that called for it,
# read again, finds it and records nothing new.
_CANCEL = f"""
UPDATE deliveries d {CANCELLED}
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

# The latest change decides the consent; the latest withdrawal is kept besides, even once a
# give-back follows it: a phone set before it never comes back (domain/contacts.py).
_REMEMBER_CONSENT = """
INSERT INTO sms_consent_changes (returnee_id, sms_contact, changed_at, last_withdrawn_at)
VALUES ($1, $2::boolean, $3::timestamptz, CASE WHEN $2::boolean THEN NULL ELSE $3 END)
ON CONFLICT (returnee_id) DO UPDATE SET sms_contact = $2, changed_at = $3,
    last_withdrawn_at = CASE WHEN $2::boolean THEN sms_consent_changes.last_withdrawn_at
        ELSE greatest(sms_consent_changes.last_withdrawn_at, $3) END
WHERE sms_consent_changes.changed_at < $3
"""

# A withdrawal older than the latest change (read late, or again): it no longer decides the
# consent, but a phone set before it must still go.
_REMEMBER_WITHDRAWAL = """
UPDATE sms_consent_changes SET last_withdrawn_at = greatest(last_withdrawn_at, $2)
WHERE returnee_id = $1
"""

# Per registration, the latest decision wins: a merge read again, or an older one read after a
# newer one (X into B, then X into A), changes nothing.
_REMEMBER_MERGE = """
INSERT INTO merged_returnees (returnee_id, merged_into, merged_at) VALUES ($1, $2, $3)
ON CONFLICT (returnee_id) DO UPDATE
SET merged_into = excluded.merged_into, merged_at = excluded.merged_at, recorded_at = now()
WHERE merged_returnees.merged_at < excluded.merged_at
"""

# The merges that lead on from these registrations (X into B, B into A: both). UNION drops a
# row already found, so even a cycle ends.
_MERGES_FROM = """
WITH RECURSIVE reachable(returnee_id, merged_into) AS (
    SELECT returnee_id, merged_into FROM merged_returnees WHERE returnee_id = ANY($1::uuid[])
    UNION
    SELECT m.returnee_id, m.merged_into
    FROM merged_returnees m JOIN reachable r ON m.returnee_id = r.merged_into
)
SELECT returnee_id, merged_into FROM reachable
"""

# Messages to the merged registration as a returnee (not to a centre team about it): held ones
# are read first, as they are, to be recorded again for the person (usecases/merge.py).
_HELD_FOR_RETURNEE = """
SELECT notification_id, event_id, event_type, rule, channel, recipient, returnee_id, template,
    status, language, address, subject, body, segments, encoding, context, last_error
FROM deliveries
WHERE returnee_id = $1 AND recipient = 'returnee:' || returnee_id::text AND status = 'held'
"""

# Then all of them are cancelled like an erasure's.
_CANCEL_FOR_RETURNEE = f"""
UPDATE deliveries d {CANCELLED}
WHERE returnee_id = $1 AND recipient = 'returnee:' || returnee_id::text
  AND status IN ('held', 'queued', 'sending')
"""

# Every consumer batch reads this: one statement for both kinds of decision.
_REFUSALS = """
SELECT id AS returnee_id, f.returnee_id IS NOT NULL AS forgotten, c.sms_contact, c.changed_at,
    c.last_withdrawn_at
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
        # Corrections read before the registration hold a phone too (usecases/correct.py).
        await self._conn.execute(
            "DELETE FROM pending_corrections WHERE returnee_id = $1", returnee_id
        )
        # Their case's visits hold no personal data, but nothing more is sent about them.
        await self._conn.execute("DELETE FROM follow_ups WHERE returnee_id = $1", returnee_id)
        await self._conn.execute("DELETE FROM follow_up_cases WHERE returnee_id = $1", returnee_id)
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
        if not remembered and sms_contact:
            return 0  # an older give-back read late: the newer change already decided
        if not remembered:
            # An older withdrawal read late: consent stays as the newer change says, but a
            # phone set before this withdrawal goes (intake deleted it then), waiting or not.
            await self._conn.execute(_REMEMBER_WITHDRAWAL, returnee_id, changed_at)
            dropped = rows_affected(
                await self._conn.execute(
                    "UPDATE contacts SET phone = NULL WHERE returnee_id = $1"
                    " AND phone IS NOT NULL AND coalesce(phone_set_at, registered_at) < $2",
                    returnee_id,
                    changed_at,
                )
            )
            await self._conn.execute(
                "UPDATE pending_corrections SET phone = NULL WHERE returnee_id = $1"
                " AND phone IS NOT NULL AND (phone_set_at IS NULL OR phone_set_at < $2)",
                returnee_id,
                changed_at,
            )
            if not dropped:
                return 0
            # The SMS still waiting were addressed to that phone.
            return rows_affected(
                await self._conn.execute(_CANCEL, returnee_id, "sms consent withdrawn", "sms")
            )
        if sms_contact:
            # Consent given back: the number was not kept, so SMS resume only once a
            # registration (or a later correction, usecases/correct.py) brings one.
            await self._conn.execute(
                "UPDATE contacts SET sms_consent = true WHERE returnee_id = $1", returnee_id
            )
            return 0
        await self._conn.execute(
            "UPDATE contacts SET sms_consent = false, phone = NULL WHERE returnee_id = $1",
            returnee_id,
        )
        # A corrected phone still waiting for the registration goes as well; its version stays,
        # so an older phone read later cannot come back.
        await self._conn.execute(
            "UPDATE pending_corrections SET phone = NULL WHERE returnee_id = $1", returnee_id
        )
        return rows_affected(
            await self._conn.execute(_CANCEL, returnee_id, "sms consent withdrawn", "sms")
        )

    async def merge(self, returnee_id: UUID, into: UUID, merged_at: datetime) -> list[Notification]:
        # Both locked: a batch recording either registration, or the other one's erasure,
        # sees this merge once it commits, or commits first and is seen here.
        await self._conn.execute(_LOCK_RETURNEES, [returnee_id, into])
        await self._conn.execute(_REMEMBER_MERGE, returnee_id, into, merged_at)
        # Never contacted as itself again: its number is not kept, corrected or waiting.
        await self._conn.execute(
            "UPDATE contacts SET phone = NULL WHERE returnee_id = $1 AND phone IS NOT NULL",
            returnee_id,
        )
        await self._conn.execute(
            "UPDATE pending_corrections SET phone = NULL"
            " WHERE returnee_id = $1 AND phone IS NOT NULL",
            returnee_id,
        )
        held = await self._conn.fetch(_HELD_FOR_RETURNEE, returnee_id)
        await self._conn.execute(_CANCEL_FOR_RETURNEE, returnee_id, MERGED)
        return [notification_of(dict(row)) for row in held]

    async def refusals(self, returnee_ids: Collection[UUID]) -> Refusals:
        if not returnee_ids:
            return Refusals()
        ids = list(dict.fromkeys(returnee_ids))
        # Held until the batch commits: an erasure of one of them waits, then sees its rows.
        await self._conn.execute(_LOCK_RETURNEES, ids)
        merged, locked = await self._merges_locked(ids)
        # Read after the locks, in a statement of its own: its snapshot must see what an erasure
        # that held a lock first has committed. The registrations merged into are read too: a
        # message about a merged registration goes to them, unless they were erased.
        rows = await self._conn.fetch(_REFUSALS, locked)
        return Refusals(
            forgotten=frozenset(row["returnee_id"] for row in rows if row["forgotten"]),
            sms_changes={
                row["returnee_id"]: (row["sms_contact"], row["changed_at"])
                for row in rows
                if row["changed_at"] is not None
            },
            sms_withdrawals={
                row["returnee_id"]: row["last_withdrawn_at"]
                for row in rows
                if row["last_withdrawn_at"] is not None
            },
            merged=merged,
        )

    async def _merges_locked(self, ids: list[UUID]) -> tuple[dict[UUID, UUID], list[UUID]]:
        """The registrations ``ids`` were merged into, read after the locks on ``ids``, and
        locked as well (and read again, in case one was merged meanwhile). Returns the merges
        and every id locked. A batch with no merged registration (nearly all) reads once."""
        locked = list(ids)
        merged: dict[UUID, UUID] = {}
        for _ in range(MAX_MERGE_CHAIN):
            edges = {
                r["returnee_id"]: r["merged_into"]
                for r in await self._conn.fetch(_MERGES_FROM, ids)
            }
            merged = resolve_merges(edges, ids)
            missing = sorted(set(merged.values()) - set(locked))
            if not missing:
                break
            # Taken after the first ones, so two batches can wait on each other in a cycle
            # (rare: merged registrations in both); Postgres then fails one with a deadlock,
            # and the consumer tries its events again (the kit's RetryPolicy).
            await self._conn.execute(_LOCK_RETURNEES, missing)
            locked.extend(missing)
        return merged, locked
