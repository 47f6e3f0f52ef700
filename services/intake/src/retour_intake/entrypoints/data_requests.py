"""HTTP routes of a person's rights over their data: erasure and consents."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

import structlog
from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from retour_intake.adapters.pg_protection import PgProtection
from retour_intake.adapters.unit_of_work import PERSONAL_FIELDS
from retour_intake.domain.protection import (
    ChangeConsents,
    EraseReturnee,
    ReturneeErasedAlready,
    ReturneeNotFound,
)
from retour_intake.entrypoints.http import erased
from retour_intake.entrypoints.response_models.data_protection import (
    ConsentsNow,
    ErasureRecorded,
)
from retour_intake.protection import Staff, change_consents, erase_returnee
from retour_kit.auth import Principal, Role, require_roles
from retour_kit.http_errors import ApiError
from retour_kit.idempotency import RequiredIdempotencyKey, respond_once
from retour_kit.unit_of_work import UnitOfWork

log = structlog.stdlib.get_logger(__name__)

Eraser = Annotated[Principal, Depends(require_roles(Role.DATA_PROTECTION_OFFICER, Role.ADMIN))]
# Whoever meets the person may record what they say about their consents.
ConsentTaker = Annotated[
    Principal,
    Depends(
        require_roles(
            Role.REGISTRAR,
            Role.CASE_WORKER,
            Role.SUPERVISOR,
            Role.ADMIN,
            Role.DATA_PROTECTION_OFFICER,
        )
    ),
]


def data_request_routes(protection: UnitOfWork[PgProtection]) -> APIRouter:
    router = APIRouter(tags=["data protection"])

    @router.post(
        "/returnees/{returnee_id}/erasure",
        responses={
            200: {"model": ErasureRecorded, "description": "Erased (or erased before)"},
            404: {"description": "No such returnee within your centres"},
        },
    )
    async def erase(
        returnee_id: UUID,
        command: EraseReturnee,
        officer: Eraser,
        idempotency_key: RequiredIdempotencyKey,
    ) -> JSONResponse:
        """Erase the person's personal data in every service; answers the same when repeated."""

        async def perform(uow: PgProtection) -> tuple[int, Any]:
            try:
                erasure = await erase_returnee(
                    uow,
                    returnee_id,
                    command,
                    staff=staff_of(officer),
                    personal_fields=PERSONAL_FIELDS,
                    now=datetime.now(UTC),
                )
            except ReturneeNotFound:
                raise _not_found(returnee_id) from None
            if not erasure.already:
                log.info("returnee erased", returnee_id=str(returnee_id), reason=erasure.reason)
            return 200, {
                "returnee_id": str(returnee_id),
                "erased_at": erasure.erased_at.isoformat(),
                "reason": erasure.reason,
            }

        async with protection.transaction() as uow:
            return await respond_once(
                uow,
                key=idempotency_key,
                subject=officer.subject,
                method="POST",
                path=f"/returnees/{returnee_id}/erasure",
                body=command.model_dump(mode="json"),
                action=perform,
            )

    @router.post(
        "/returnees/{returnee_id}/consents",
        responses={
            200: {"model": ConsentsNow, "description": "The consents as they are now"},
            404: {"description": "No such returnee"},
            410: {"description": "Erased"},
        },
    )
    async def consents(
        returnee_id: UUID,
        command: ChangeConsents,
        staff: ConsentTaker,
        idempotency_key: RequiredIdempotencyKey,
    ) -> JSONResponse:
        """Withdraw or give SMS contact or partner sharing; the other services follow."""

        async def perform(uow: PgProtection) -> tuple[int, Any]:
            try:
                now_given = await change_consents(
                    uow, returnee_id, command, staff=staff_of(staff), now=datetime.now(UTC)
                )
            except ReturneeNotFound:
                raise _not_found(returnee_id) from None
            except ReturneeErasedAlready:
                raise erased(returnee_id) from None
            log.info(
                "consents changed", returnee_id=str(returnee_id), changed=command.changed_fields()
            )
            return 200, {"returnee_id": str(returnee_id), "consents": now_given}

        async with protection.transaction() as uow:
            return await respond_once(
                uow,
                key=idempotency_key,
                subject=staff.subject,
                method="POST",
                path=f"/returnees/{returnee_id}/consents",
                body=command.model_dump(mode="json"),
                action=perform,
            )

    return router


def staff_of(principal: Principal) -> Staff:
    return Staff(principal.subject, sorted(principal.roles), principal.centre_filter)


def _not_found(returnee_id: UUID) -> ApiError:
    return ApiError(404, "not_found", f"no returnee {returnee_id}")
