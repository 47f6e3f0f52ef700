"""HTTP route of corrections and transfers: PATCH /returnees/{id}, with optimistic concurrency.

A client reads the registration (its ``ETag`` is the version), sends its changes with
``If-Match`` set to that ETag, and gets 412 when someone changed the registration meanwhile:
it then reads again and decides again, rather than overwriting a colleague's correction.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime
from typing import Annotated, Any
from uuid import UUID

import structlog
from fastapi import APIRouter, Depends, Header
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from retour_intake.adapters.unit_of_work import PgRegistrationUnitOfWork
from retour_intake.corrections import MergedAway, StaleVersion, correct_registration
from retour_intake.domain.commands import InvalidField
from retour_intake.domain.corrections import CorrectRegistration
from retour_intake.domain.protection import ReturneeErasedAlready, ReturneeNotFound
from retour_intake.domain.registration import DuplicateSuspected
from retour_intake.entrypoints.data_requests import staff_of
from retour_intake.entrypoints.http import (
    DuplicateProblem,
    erased,
    etag,
    possible_duplicate,
    with_version,
)
from retour_intake.entrypoints.response_models.registrations import VersionedRegistration
from retour_kit.auth import Principal, Role, require_roles
from retour_kit.http_errors import ApiError, invalid_fields
from retour_kit.idempotency import RequiredIdempotencyKey, StoredResponse, respond_once
from retour_kit.logging import bound_event_context
from retour_kit.tracing import TraceParentHeader, continued_trace, trace_id
from retour_kit.unit_of_work import UnitOfWork

log = structlog.stdlib.get_logger(__name__)

# Whoever meets the person may correct what they say; a transfer is a correction too.
Corrector = Annotated[
    Principal,
    Depends(require_roles(Role.REGISTRAR, Role.CASE_WORKER, Role.SUPERVISOR)),
]
_VERSION_TAG = re.compile(r'^\s*"?([1-9][0-9]{0,8})"?\s*$')

_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "model": VersionedRegistration,
        "description": "The registration as it is now (unchanged if nothing changed)",
    },
    404: {"description": "No such returnee within your centres"},
    409: {
        "model": DuplicateProblem,
        "description": "The correction makes the person a strong duplicate of others, which"
        " `matches` lists (`possible_duplicate`), or the registration was merged into another"
        " (`merged`)",
    },
    410: {"description": "Erased"},
    412: {"description": "The registration changed since you read it (If-Match is stale)"},
    428: {"description": "No If-Match header (`precondition_required`)."},
}


def expected_version(if_match: str | None) -> int:
    """The version an If-Match names; 428 without one (``*`` names none: a correction must say
    which version it corrects)."""
    if if_match is None or if_match.strip() == "*":
        raise ApiError(
            428,
            "precondition_required",
            "header.If-Match: send the ETag of the registration you corrected (GET it first)",
            extra={"field": "header.If-Match"},
        )
    found = _VERSION_TAG.match(if_match)
    if found is None:
        raise ApiError(
            412,
            "precondition_failed",
            "header.If-Match: not an ETag of a registration",
            extra={"field": "header.If-Match"},
        )
    return int(found.group(1))


def correction_routes(
    registrations: UnitOfWork[PgRegistrationUnitOfWork], *, programme_start: date
) -> APIRouter:
    router = APIRouter(tags=["returnees"])

    @router.patch(
        "/returnees/{returnee_id}",
        responses=_RESPONSES,
        # RFC 7396's own media type is accepted beside application/json.
        openapi_extra={
            "requestBody": {
                "content": {
                    "application/merge-patch+json": {
                        "schema": {"$ref": "#/components/schemas/CorrectRegistration"}
                    }
                }
            }
        },
    )
    async def correct(
        returnee_id: UUID,
        correction: CorrectRegistration,
        staff: Corrector,
        idempotency_key: RequiredIdempotencyKey,
        if_match: Annotated[str | None, Header(alias="If-Match", max_length=40)] = None,
        traceparent: TraceParentHeader = None,
    ) -> JSONResponse:
        """Correct a registration (a JSON merge patch with a reason), or transfer the person
        to another centre by changing ``reception_centre``; the other services follow."""
        version = expected_version(if_match)
        trace = continued_trace(traceparent)

        async def perform(uow: PgRegistrationUnitOfWork) -> tuple[int, Any]:
            try:
                corrected = await correct_registration(
                    uow,
                    returnee_id,
                    correction,
                    expected_version=version,
                    staff=staff_of(staff),
                    programme_start=programme_start,
                    now=datetime.now(UTC),
                    new_id=uuid.uuid4,
                    traceparent=trace,
                )
            except ReturneeNotFound:
                raise ApiError(404, "not_found", f"no returnee {returnee_id}") from None
            except ReturneeErasedAlready:
                raise erased(returnee_id) from None
            except MergedAway as merged:
                raise ApiError(
                    409,
                    "merged",
                    f"this registration was merged into {merged.merged_into}: correct that one",
                    extra={"merged_into": str(merged.merged_into)},
                ) from None
            except StaleVersion as stale:
                raise ApiError(
                    412,
                    "precondition_failed",
                    f"the registration is at version {stale.current}: read it again, then"
                    " correct what still needs correcting",
                    headers={"ETag": etag(stale.current)},
                    extra={"field": "header.If-Match", "current_version": stale.current},
                ) from None
            except ValidationError as invalid:
                # The corrected registration, checked as a registration: the kit's handler
                # answers it like any body it validates (locations and messages, no input).
                raise RequestValidationError(
                    [{**e, "loc": ("body", *e["loc"])} for e in invalid.errors(include_input=False)]
                ) from None
            except InvalidField as invalid:
                raise invalid_fields((f"body.{invalid.field}", invalid.message)) from None
            except DuplicateSuspected as suspected:
                raise possible_duplicate(suspected) from None
            if corrected.event is not None:
                with bound_event_context(returnee_id=str(returnee_id), trace_id=trace_id(trace)):
                    log.info(
                        "registration corrected",
                        version=corrected.version,
                        transfer=corrected.event.is_transfer,
                        changed=[field.value for field in corrected.event.changed],
                    )
            record = corrected.registration.model_dump(mode="json")
            return 200, with_version(record, corrected.version)

        async def shown_again(uow: PgRegistrationUnitOfWork, earlier: StoredResponse) -> None:
            if earlier.status == 200:
                await uow.record_correction_shown(staff_of(staff), returnee_id)

        async with registrations.transaction() as uow:
            return await respond_once(
                uow,
                key=idempotency_key,
                subject=staff.subject,
                method="PATCH",
                path=f"/returnees/{returnee_id}",
                # The changes, not the version they were made from: a retry that read the
                # registration again (after its own correction) still replays, not refused.
                body=correction.model_dump(mode="json", exclude_unset=True),
                action=perform,
                headers=_etag_of,
                on_replay=shown_again,
            )

    return router


def _etag_of(body: Any) -> dict[str, str]:
    version = body.get("version") if isinstance(body, dict) else None
    return {"ETag": etag(version)} if isinstance(version, int) else {}
