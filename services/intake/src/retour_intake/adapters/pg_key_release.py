"""The PostgreSQL side of release_data_keys, on one unit of work's connection."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from uuid import UUID

from retour_intake.adapters.data_keys import KeyWrapping, PgDataKeys
from retour_intake.adapters.unit_of_work import PERSONAL_FIELDS, SCHEMA
from retour_intake.domain.key_release import KeyHolder
from retour_intake.protection import Staff
from retour_kit.access_log import Access, PgAccessLog
from retour_kit.db import Connection

ROUTE = "POST /data-keys"

_HOLDERS = """
SELECT r.returnee_id,
       r.erased_at IS NOT NULL AS erased,
       coalesce((r.record #>> '{consents,partner_sharing}')::boolean, false) AS partner_sharing,
       k.returnee_id IS NOT NULL AS has_key
FROM returnees r LEFT JOIN data_keys k USING (returnee_id)
WHERE r.returnee_id = ANY($1::uuid[])
  AND ($2::text[] IS NULL OR r.reception_centre = ANY($2))
ORDER BY r.returnee_id
-- An erasure locks the row FOR UPDATE before it deletes the key: it waits for this release to
-- commit, so a key is never read after the erasure that destroys it.
FOR SHARE OF r
"""


class PgKeyRelease:
    def __init__(self, conn: Connection, wrapping: KeyWrapping) -> None:
        self._conn = conn
        self._data_keys = PgDataKeys(conn, wrapping)
        self._access_log = PgAccessLog(conn, service=SCHEMA)

    @classmethod
    def binder(cls, wrapping: KeyWrapping) -> Callable[[Connection], PgKeyRelease]:
        return lambda conn: cls(conn, wrapping)

    async def holders(
        self, returnee_ids: Sequence[UUID], *, centres: list[str] | None
    ) -> list[KeyHolder]:
        rows = await self._conn.fetch(_HOLDERS, list(returnee_ids), centres)
        return [KeyHolder(**dict(row)) for row in rows]

    async def keys(self, returnee_ids: Sequence[UUID]) -> dict[UUID, bytes]:
        return await self._data_keys.of(returnee_ids)

    async def record_release(self, requester: Staff, returnee_ids: Sequence[UUID]) -> None:
        await self._access_log.record(
            requester.subject,
            requester.roles,
            Access.KEY_RELEASED,
            route=ROUTE,
            returnee_ids=returnee_ids,
            fields=PERSONAL_FIELDS,
        )
