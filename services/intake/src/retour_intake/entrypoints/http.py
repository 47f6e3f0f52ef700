"""HTTP routes of intake: translate requests into use-case calls and results into JSON."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any
from uuid import UUID

import structlog
from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from pydantic import Field

from retour_contracts import (
    ReceptionCentre,
    ReturneeRegistered,
)
from retour_intake.adapters.metrics import IntakeMetrics
from retour_intake.adapters.returnee_views import Cursor
from retour_intake.adapters.unit_of_work import PERSONAL_FIELDS, PgReads
from retour_intake.domain.commands import InvalidField, RegisterReturnee
from retour_intake.domain.registration import DuplicateSuspected, OverrideRefused
from retour_intake.domain.search import MAX_QUERY, MIN_QUERY, SearchQuery
from retour_intake.entrypoints.response_models.registrations import (
    REGISTRATION,
    RegistrationPage,
    SearchResults,
    ShownRegistration,
)
from retour_intake.registering import OutsideYourCentres, RegistrationDesk
from retour_intake.use_cases import RegistrationUnitOfWork
from retour_kit.access_log import Access
from retour_kit.auth import Principal, Role, require_roles
from retour_kit.http_errors import ApiError, invalid_fields, outside_centres
from retour_kit.idempotency import (
    REPLAYED_HEADER,
    IdempotencyKeyReused,
    RequiredIdempotencyKey,
    key_reused,
)
from retour_kit.problems import Problem, stored_answer
from retour_kit.tracing import TraceParentHeader
from retour_kit.unit_of_work import UnitOfWork

log = structlog.stdlib.get_logger(__name__)

# Supervisors register too: a strong duplicate match is let through by them only.
Writer = Annotated[Principal, Depends(require_roles(Role.REGISTRAR, Role.SUPERVISOR))]
Reader = Annotated[
    Principal,
    Depends(require_roles(Role.REGISTRAR, Role.CASE_WORKER, Role.SUPERVISOR, Role.ADMIN)),
]


class DuplicateProblem(Problem):
    matches: list[UUID] = Field(
        default_factory=list,
        description="For a `possible_duplicate`: the registrations the person may already have"
        " (their ids only: a registration of another centre is not shown)",
    )


_REGISTRATION_RESPONSES: dict[int | str, dict[str, Any]] = {
    201: {
        "model": ReturneeRegistered,
        "description": "Registered (or replayed)",
        "content": {"application/json": {"example": REGISTRATION}},
    },
    409: {
        "model": DuplicateProblem,
        "description": "A strong duplicate: `matches` lists the registrations it may repeat",
    },
    410: {"description": "A retry of a registration whose person was erased since"},
}


def returnee_routes(
    *,
    registrations: UnitOfWork[RegistrationUnitOfWork],
    reads: UnitOfWork[PgReads],
    metrics: IntakeMetrics,
    programme_start: date,
) -> APIRouter:
    router = APIRouter(tags=["returnees"])
    desk = RegistrationDesk(registrations, metrics, programme_start)

    @router.post("/returnees", status_code=201, responses=_REGISTRATION_RESPONSES)
    async def register(
        command: RegisterReturnee,
        principal: Writer,
        idempotency_key: RequiredIdempotencyKey,
        traceparent: TraceParentHeader = None,
    ) -> JSONResponse:
        """Register a returnee; duplicates across all centres are checked first."""
        try:
            result = await desk.register(
                command, principal, idempotency_key=idempotency_key, traceparent=traceparent
            )
        except OutsideYourCentres:
            raise outside_centres("body.reception_centre") from None
        except DuplicateSuspected as suspected:
            raise possible_duplicate(
                suspected,
                "this person matches earlier registrations; check them, then resend with"
                " confirm_not_duplicate: true and an override_reason (a supervisor) if it is"
                " someone else",
            ) from suspected
        except OverrideRefused:
            raise ApiError(
                403,
                "supervisor_required",
                "body.confirm_not_duplicate: only a supervisor registers a person despite a"
                " strong duplicate match",
                extra={"field": "body.confirm_not_duplicate"},
            ) from None
        except InvalidField as invalid:
            raise invalid_fields((f"body.{invalid.field}", invalid.message)) from invalid
        except IdempotencyKeyReused as reused:
            raise key_reused() from reused
        returnee_id = result.body["returnee_id"]
        headers = {"Location": f"/returnees/{returnee_id}"} if result.status == 201 else {}
        if result.replayed:
            headers[REPLAYED_HEADER] = "true"
        # A replay may be the 410 stored in place of an erased person's answer.
        return stored_answer(result.status, result.body, headers)

    # Declared before /returnees/{returnee_id}, which would otherwise take "search" for an id.
    @router.get(
        "/returnees/search",
        # The dict is answered as built: SearchResults only documents it.
        response_model=None,
        responses={200: {"model": SearchResults, "description": "The people found, and why"}},
    )
    async def search_returnees(
        reader: Reader,
        q: Annotated[
            str,
            Query(
                min_length=MIN_QUERY,
                max_length=MAX_QUERY,
                description=(
                    "An SMS reference (A375151C), a phone number written any common way, a"
                    " national ID, or names (case, accents and spelling variants tolerated)."
                ),
            ),
        ],
    ) -> dict[str, Any]:
        """Find people within your centres, best matches first, each with why it matched."""
        query = SearchQuery.read(q)
        if len(query.text) < MIN_QUERY:
            raise invalid_fields(("query.q", f"at least {MIN_QUERY} characters besides spaces"))
        async with reads.transaction() as work:
            hits = await work.returnees.search(query, centres=reader.centre_filter)
            shown = [UUID(hit.record["returnee_id"]) for hit in hits]
            await _record_shown(work, reader, "GET /returnees/search", shown, Access.LISTED)
        return {
            "items": [
                {"returnee": hit.record, "matched": hit.matched, "score": hit.score} for hit in hits
            ]
        }

    @router.get(
        "/returnees/{returnee_id}",
        responses={
            200: {
                "model": ShownRegistration,
                "description": "The registration, its version, and the version as ETag",
            },
            404: {"description": "No such returnee within your centres (`not_found`)"},
            410: {"description": "Erased"},
        },
    )
    async def get_returnee(returnee_id: UUID, reader: Reader) -> JSONResponse:
        """One registration, with its version (also its `ETag`, for a correction's `If-Match`).

        Registrars, case workers, supervisors and admins. A returnee of a centre outside yours
        is `404 not_found`, not forbidden: the answer does not even say that the person is
        registered somewhere. A person whose personal data was erased is `410 erased`. A
        registration merged into another still answers, with `merged_into` naming the one kept.
        Each read is recorded in the access log."""
        async with reads.transaction() as work:
            found = await work.returnees.get(returnee_id, centres=reader.centre_filter)
            if found is not None and not found.erased:
                await _record_shown(work, reader, "GET /returnees/{returnee_id}", [returnee_id])
        if found is None:
            raise ApiError(404, "not_found", f"no returnee {returnee_id}")
        if found.erased:
            raise erased(returnee_id)
        body = with_version(found.record, found.version)
        if found.merged_into is not None:
            # An old reference (an SMS, a paper file) still leads to the person.
            body["merged_into"] = str(found.merged_into)
        return JSONResponse(body, headers={"ETag": etag(found.version)})

    @router.get(
        "/returnees",
        response_model=None,
        responses={200: {"model": RegistrationPage, "description": "One page of registrations"}},
    )
    async def list_returnees(
        reader: Reader,
        centre: ReceptionCentre | None = None,
        arrived_from: Annotated[date | None, Query(alias="from")] = None,
        arrived_to: Annotated[date | None, Query(alias="to")] = None,
        cursor: Annotated[str | None, Query(max_length=200)] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
    ) -> dict[str, Any]:
        """Returnees by arrival date (inclusive range), oldest first, one page at a time."""
        after = Cursor.decode(cursor) if cursor else None
        async with reads.transaction() as work:
            page = await work.returnees.page(
                centres=reader.listing(centre),
                arrived_from=arrived_from,
                arrived_to=arrived_to,
                after=after,
                limit=limit,
            )
            shown = [UUID(item["returnee_id"]) for item in page.items]
            await _record_shown(work, reader, "GET /returnees", shown, Access.LISTED)
        return {"items": page.items, "next_cursor": page.next_cursor}

    return router


async def _record_shown(
    work: PgReads,
    reader: Principal,
    route: str,
    returnee_ids: list[UUID],
    action: Access = Access.READ,
) -> None:
    """Every showing of registrations goes to the access log, in the read's transaction: a
    read that cannot be recorded fails."""
    await work.access_log.record(
        reader.subject,
        reader.roles,
        action,
        route=route,
        returnee_ids=returnee_ids,
        fields=PERSONAL_FIELDS,
    )


def etag(version: int) -> str:
    """A registration's ETag: its version, which every correction moves on by one."""
    return f'"{version}"'


def with_version(record: dict[str, Any], version: int) -> dict[str, Any]:
    return {**record, "version": version}


def possible_duplicate(
    suspected: DuplicateSuspected,
    detail: str = "this correction makes the person match other registrations; check them",
) -> ApiError:
    # The ids only: another centre's person is not shown, the registrar's supervisor can be.
    return ApiError(
        409,
        "possible_duplicate",
        detail,
        extra={"matches": [str(match) for match in suspected.matches]},
    )


def erased(returnee_id: UUID) -> ApiError:
    return ApiError(
        410, "erased", f"the personal data of returnee {returnee_id} was erased", extra={}
    )
