"""``GET /audit``: the access log of one returnee, for the data protection officer only."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query

from retour_kit.access_log import MAX_PAGE, PgAccessLog
from retour_kit.auth import Principal, Role, require_roles
from retour_kit.pagination import decode_cursor, encode_cursor
from retour_kit.unit_of_work import UnitOfWork

# Nobody else, admins included: the log says who looked at whom, which is itself sensitive.
DataProtectionOfficer = Annotated[Principal, Depends(require_roles(Role.DATA_PROTECTION_OFFICER))]


def audit_router(access_log: UnitOfWork[PgAccessLog]) -> APIRouter:
    router = APIRouter(tags=["audit"])

    @router.get("/audit")
    async def audit(
        returnee_id: UUID,
        _: DataProtectionOfficer,
        cursor: Annotated[str | None, Query(max_length=200)] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    ) -> dict[str, Any]:
        """Who read or changed this returnee's personal data, oldest first."""
        after = decode_cursor(cursor, int)[0] if cursor else None
        async with access_log.reading() as log:
            records, last = await log.of_returnee(returnee_id, after=after, limit=limit)
        return {
            "returnee_id": str(returnee_id),
            "items": [record.as_json() for record in records],
            "next_cursor": encode_cursor(str(last)) if last is not None else None,
        }

    return router
