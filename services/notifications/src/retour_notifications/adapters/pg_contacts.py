"""Returnees' contacts in the service's schema."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from uuid import UUID

import asyncpg

from retour_kit.db import Connection, rows_affected
from retour_notifications.domain.contacts import Contact

_SAVE = """
INSERT INTO contacts (returnee_id, reception_centre, language, sms_consent, phone, registered_at)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (returnee_id) DO UPDATE SET
    reception_centre = excluded.reception_centre, language = excluded.language,
    sms_consent = excluded.sms_consent, phone = excluded.phone,
    registered_at = excluded.registered_at, recorded_at = now()
"""

_FIND = """
SELECT returnee_id, reception_centre, language, sms_consent, phone, registered_at
FROM contacts WHERE returnee_id = ANY($1::uuid[])
"""


class PgContacts:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def save_all(self, contacts: Sequence[Contact]) -> None:
        if not contacts:
            return
        # executemany pipelines the statements (one round trip) and runs them in order, so a
        # returnee registered twice in one batch ends with the later contact.
        await self._conn.executemany(
            _SAVE,
            [
                (
                    c.returnee_id,
                    c.reception_centre,
                    c.language,
                    c.sms_consent,
                    c.phone,
                    c.registered_at,
                )
                for c in contacts
            ],
        )

    async def find(self, returnee_ids: Collection[UUID]) -> dict[UUID, Contact]:
        if not returnee_ids:
            return {}
        rows = await self._conn.fetch(_FIND, list(returnee_ids))
        return {row["returnee_id"]: Contact(**dict(row)) for row in rows}


# The row stays, without a phone: a later event for the returnee is then known to reach no one,
# rather than waiting for a registration that was already read.
_FORGET = """
UPDATE contacts SET phone = NULL, sms_consent = false
WHERE registered_at < $1 AND (phone IS NOT NULL OR sms_consent)
"""


async def forget_contacts(pool: asyncpg.Pool, registered_before: datetime) -> int:
    """Erases the phone numbers of returnees registered before ``registered_before``."""
    return rows_affected(await pool.execute(_FORGET, registered_before))
