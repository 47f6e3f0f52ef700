"""``GET /audit``: the access log of one returnee, for the data protection officer only."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from retour_contracts import PersonalData
from retour_contracts.examples import RETURNEE_ID
from retour_kit.access_log import MAX_PAGE, Access, PgAccessLog
from retour_kit.auth import Principal, Role, require_roles
from retour_kit.pagination import decode_cursor, encode_cursor
from retour_kit.unit_of_work import UnitOfWork

# Nobody else, admins included: the log says who looked at whom, which is itself sensitive.
DataProtectionOfficer = Annotated[Principal, Depends(require_roles(Role.DATA_PROTECTION_OFFICER))]


_CREATED: dict[str, Any] = {
    "at": "2024-03-02T10:42:00.318204+00:00",
    "service": "intake",
    "actor": "registrar.gao.03",
    "roles": ["registrar"],
    "action": "created",
    "route": "POST /returnees",
    "fields": [f"personal.{name}" for name in PersonalData.model_fields],
    "returnee_id": str(RETURNEE_ID),
}


class AccessLogEntry(BaseModel):
    """One reading or change of the person's data."""

    at: datetime
    service: str
    actor: str = Field(description="The token subject: a staff account, a service or a partner.")
    roles: list[str] = Field(description="The token's roles, in alphabetical order.")
    action: Access
    route: str = Field(description="The route's template (never a URL, which may hold a name).")
    fields: list[str] = Field(description="The names of the fields involved, never their values.")
    returnee_id: UUID


class AuditPage(BaseModel):
    """The returnee's access log, oldest first, one page at a time."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "returnee_id": str(RETURNEE_ID),
                    "items": [
                        _CREATED,
                        {
                            **_CREATED,
                            "at": "2024-03-02T10:43:05.020556+00:00",
                            "actor": "service:notifications",
                            "roles": ["notifications_service"],
                            "action": "key_released",
                            "route": "POST /data-keys",
                        },
                    ],
                    "next_cursor": None,
                }
            ]
        }
    )

    returnee_id: UUID
    items: list[AccessLogEntry]
    next_cursor: str | None = Field(
        description="Send it as `cursor` for the next page; null on the last page."
    )


def audit_router(access_log: UnitOfWork[PgAccessLog]) -> APIRouter:
    router = APIRouter(tags=["audit"])

    # Documented by AuditPage; answered as the dict below (response_model=None), as written.
    @router.get(
        "/audit",
        response_model=None,
        responses={200: {"model": AuditPage, "description": "The returnee's access log"}},
    )
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
