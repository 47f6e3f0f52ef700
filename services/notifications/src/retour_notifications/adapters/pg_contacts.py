"""Returnees' contacts, and the corrections waiting for a registration, in the service's schema."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from retour_kit.db import Connection, rows_affected
from retour_notifications.domain.contacts import Contact
from retour_notifications.domain.corrections import Corrections, Versioned

_SAVE = """
INSERT INTO contacts (returnee_id, reception_centre, language, sms_consent, phone, registered_at,
    language_version, centre_version, phone_version, phone_set_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
ON CONFLICT (returnee_id) DO UPDATE SET
    reception_centre = excluded.reception_centre, language = excluded.language,
    sms_consent = excluded.sms_consent, phone = excluded.phone,
    registered_at = excluded.registered_at, language_version = excluded.language_version,
    centre_version = excluded.centre_version, phone_version = excluded.phone_version,
    phone_set_at = excluded.phone_set_at, recorded_at = now()
"""

_FIND = """
SELECT returnee_id, reception_centre, language, sms_consent, phone, registered_at,
    language_version, centre_version, phone_version, phone_set_at
FROM contacts WHERE returnee_id = ANY($1::uuid[])
"""

_WAITING = """
SELECT returnee_id, language, language_version, reception_centre, centre_version, phone,
    phone_version, phone_set_at
FROM pending_corrections WHERE returnee_id = ANY($1::uuid[])
"""

_KEEP_WAITING = """
INSERT INTO pending_corrections (returnee_id, language, language_version, reception_centre,
    centre_version, phone, phone_version, phone_set_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (returnee_id) DO UPDATE SET
    language = excluded.language, language_version = excluded.language_version,
    reception_centre = excluded.reception_centre, centre_version = excluded.centre_version,
    phone = excluded.phone, phone_version = excluded.phone_version,
    phone_set_at = excluded.phone_set_at, recorded_at = now()
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
                    c.language_version,
                    c.centre_version,
                    c.phone_version,
                    c.phone_set_at,
                )
                for c in contacts
            ],
        )

    async def find(self, returnee_ids: Collection[UUID]) -> dict[UUID, Contact]:
        if not returnee_ids:
            return {}
        rows = await self._conn.fetch(_FIND, list(returnee_ids))
        return {row["returnee_id"]: Contact(**dict(row)) for row in rows}

    async def corrections_waiting(self, returnee_ids: Collection[UUID]) -> dict[UUID, Corrections]:
        if not returnee_ids:
            return {}
        rows = await self._conn.fetch(_WAITING, list(returnee_ids))
        return {row["returnee_id"]: _corrections(row) for row in rows}

    async def keep_waiting(self, corrections: Sequence[Corrections]) -> None:
        if not corrections:
            return
        await self._conn.executemany(
            _KEEP_WAITING,
            [
                (
                    c.returnee_id,
                    *_columns(c.language),
                    *_columns(c.reception_centre),
                    *_columns(c.phone),
                    None if c.phone is None else c.phone.at,
                )
                for c in corrections
            ],
        )

    async def drop_waiting(self, returnee_ids: Collection[UUID]) -> None:
        if returnee_ids:
            await self._conn.execute(
                "DELETE FROM pending_corrections WHERE returnee_id = ANY($1::uuid[])",
                list(returnee_ids),
            )


def _columns(field: Versioned[Any] | None) -> tuple[Any, int | None]:
    return (None, None) if field is None else (field.value, field.version)


def _corrections(row: Any) -> Corrections:
    def versioned(value: str, version: str) -> Versioned[Any] | None:
        return None if row[version] is None else Versioned(row[value], row[version])

    return Corrections(
        row["returnee_id"],
        language=versioned("language", "language_version"),
        reception_centre=versioned("reception_centre", "centre_version"),
        phone=None
        if row["phone_version"] is None
        else Versioned(row["phone"], row["phone_version"], row["phone_set_at"]),
    )


# The row stays, without a phone: a later event for the returnee is then known to reach no one,
# rather than waiting for a registration that was already read.
_FORGET = """
UPDATE contacts SET phone = NULL, sms_consent = false
WHERE registered_at < $1 AND (phone IS NOT NULL OR sms_consent)
"""

# A correction waiting that long concerns a registration older still; its phone goes the same
# way (the version stays, so an older phone read later does not come back).
_FORGET_WAITING = """
UPDATE pending_corrections SET phone = NULL WHERE recorded_at < $1 AND phone IS NOT NULL
"""


async def forget_contacts(pool: asyncpg.Pool, registered_before: datetime) -> int:
    """Erases the phone numbers of returnees registered before ``registered_before``."""
    forgotten = rows_affected(await pool.execute(_FORGET, registered_before))
    return forgotten + rows_affected(await pool.execute(_FORGET_WAITING, registered_before))
