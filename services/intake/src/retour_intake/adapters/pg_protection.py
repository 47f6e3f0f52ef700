"""The PostgreSQL side of erase_returnee and change_consents, on one unit of work's connection."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from uuid import UUID

from retour_contracts import (
    ConsentChanged,
    ErasureReason,
    ReturneeErased,
    build_envelope,
    spec_for_model,
)
from retour_intake.adapters.pg_expected import erase_linked
from retour_intake.adapters.unit_of_work import SCHEMA, SOURCE
from retour_intake.protection import Located, Staff
from retour_kit import outbox
from retour_kit.access_log import Access, PgAccessLog
from retour_kit.db import Connection, rows_affected
from retour_kit.idempotency import PgIdempotencyKeys
from retour_kit.problems import problem

# The tombstone: the record without its personal block, and no key a person could be found by.
_ERASE = """
UPDATE returnees
SET record = record - 'personal', erased_at = $2, erasure_reason = $3,
    name_key = NULL, family_key = NULL, birth_date = NULL, birth_year = NULL, phone = NULL
WHERE returnee_id = $1
"""

# Registration and correction retries replay a stored answer whose body is the registration
# itself, personal block included. The key stays, its answer becomes a 410 without the data: a
# retry still waiting on a registrar's phone must not register the erased person afresh (their
# tombstone no longer matches as a duplicate).
_FORGET_RESPONSES = """
UPDATE idempotency_keys
SET status = 410, body = $2::jsonb || jsonb_build_object('returnee_id', body -> 'returnee_id')
WHERE body ->> 'returnee_id' = $1 AND body ? 'personal'
"""
# What a retry of a registration (or a correction) of an erased person is answered, stored
# in place of the answer that held the person's data.
_ERASED = problem(410, "the personal data of this returnee was erased", "erased")


# A merge points a registration at the person's (and re-points whoever was merged into it), so
# the person's registrations are one root and the rows pointing at it.
_SAME_PERSON = """
WITH root AS (
    SELECT coalesce(merged_into, returnee_id) AS id FROM returnees WHERE returnee_id = $1
)
SELECT returnee_id FROM returnees
WHERE (returnee_id = (SELECT id FROM root) OR merged_into = (SELECT id FROM root))
  AND erased_at IS NULL
ORDER BY returnee_id
FOR UPDATE
"""


class PgProtection:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._access_log = PgAccessLog(conn, service=SCHEMA)
        self.idempotency_keys = PgIdempotencyKeys(conn)

    async def locate(self, returnee_id: UUID, *, centres: list[str] | None) -> Located | None:
        row = await self._conn.fetchrow(
            "SELECT erased_at, erasure_reason, record -> 'consents' AS consents FROM returnees"
            " WHERE returnee_id = $1 AND ($2::text[] IS NULL OR reception_centre = ANY($2))"
            " FOR UPDATE",
            returnee_id,
            centres,
        )
        return None if row is None else Located(**dict(row))

    async def same_person(self, returnee_id: UUID) -> list[UUID]:
        rows = await self._conn.fetch(_SAME_PERSON, returnee_id)
        return [row["returnee_id"] for row in rows]

    async def erase(self, returnee_id: UUID, *, reason: ErasureReason, at: datetime) -> None:
        await self._conn.execute(_ERASE, returnee_id, at, reason.value)
        # Without its key, no sealed copy of the personal block opens again: the topic's, the
        # dead letters', a backup's or a partner's mirror. Committed with the tombstone.
        await self._conn.execute("DELETE FROM data_keys WHERE returnee_id = $1", returnee_id)
        # The expected record this registration confirmed held the same person's data.
        await erase_linked(self._conn, returnee_id, at=at)

    async def forget_responses(self, returnee_id: UUID) -> int:
        return rows_affected(await self._conn.execute(_FORGET_RESPONSES, str(returnee_id), _ERASED))

    async def change_consents(self, returnee_id: UUID, changes: dict[str, bool]) -> None:
        await self._conn.execute(
            "UPDATE returnees SET record = jsonb_set(record, '{consents}',"
            " (record -> 'consents') || $2::jsonb) WHERE returnee_id = $1",
            returnee_id,
            changes,
        )
        if changes.get("sms_contact") is False:
            # The contract keeps a phone number only with SMS consent: the number goes, from
            # the record and from the duplicate-detection key alike.
            await self._conn.execute(
                "UPDATE returnees SET phone = NULL,"
                " record = jsonb_set(record, '{personal,phone}', 'null') WHERE returnee_id = $1",
                returnee_id,
            )

    async def publish(self, event: ReturneeErased | ConsentChanged) -> None:
        spec = spec_for_model(type(event))
        envelope = build_envelope(spec, event, source=SOURCE)
        await outbox.enqueue(self._conn, envelope, topic=spec.topic)

    async def record_access(
        self, staff: Staff, returnee_id: UUID, *, action: str, fields: Iterable[str]
    ) -> None:
        await self._access_log.record(
            staff.subject,
            staff.roles,
            Access(action),
            route=_ROUTES[action],
            returnee_ids=[returnee_id],
            fields=list(fields),
        )


_ROUTES = {
    "erased": "POST /returnees/{returnee_id}/erasure",
    "changed": "POST /returnees/{returnee_id}/consents",
}
