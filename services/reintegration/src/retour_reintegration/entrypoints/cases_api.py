"""HTTP routes of cases: read and list them, grant aid, close and reopen them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import structlog
from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from retour_contracts import ReceptionCentre
from retour_kit.pagination import decode_cursor, encode_cursor
from retour_kit.tracing import trace_id
from retour_reintegration.adapters.unit_of_work import CaseWork
from retour_reintegration.domain.case import CaseStatus
from retour_reintegration.domain.commands import CloseCase, GrantAid, ReopenCase
from retour_reintegration.domain.errors import CaseNotFound, InvalidFields
from retour_reintegration.entrypoints.access import AssignedTo, Reader, assignee_filter
from retour_reintegration.entrypoints.context import ApiContext
from retour_reintegration.entrypoints.rule_violations import REFUSALS
from retour_reintegration.entrypoints.writes import CaseWrite
from retour_reintegration.usecases import close_case, grant_aid, reopen_case
from retour_reintegration.views.models import (
    AidView,
    CaseDetails,
    CasePage,
    CaseSummary,
)

log = structlog.stdlib.get_logger(__name__)


def cases_router(context: ApiContext) -> APIRouter:
    router = APIRouter(prefix="/cases", tags=["cases"])
    work = context.work

    @router.get("/{returnee_id}", response_model=CaseDetails, responses={404: REFUSALS[404]})
    async def get_case(returnee_id: UUID, reader: Reader) -> CaseDetails:
        """A returnee's case, open or closed, with everything recorded on it.

        Its budget, aid, activities, transfers, vulnerabilities, assignments, assessments,
        follow-up visits and reopenings. For case workers, supervisors and admins. A case at a
        centre outside yours is `404 case_not_found`, not forbidden: the answer does not say the
        person has a case. A duplicate registration's case names the person's case in
        `merged_into`, which holds its aid (with `merged_from`) and activities."""
        async with work.reading() as adapters:
            details = await adapters.views.details(
                returnee_id, context.budget, centres=reader.centre_filter
            )
        if details is None:
            raise CaseNotFound([returnee_id])
        return details

    @router.get("", response_model=CasePage, responses={403: REFUSALS[403]})
    async def get_cases(
        reader: Reader,
        status: CaseStatus | None = None,
        centre: ReceptionCentre | None = None,
        assigned_to: AssignedTo = None,
        unassigned: Annotated[bool, Query(description="Only cases nobody has.")] = False,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        cursor: Annotated[str | None, Query(max_length=200)] = None,
    ) -> CasePage:
        """Cases within your centres, oldest registration first, a page at a time.

        Pass `next_cursor` as `cursor` for the next page (null: the last page). Filter by
        `status`, `centre` (one outside yours gives an empty page), `assigned_to` or `unassigned`
        (not both: `422`). A case worker filters on their own cases only (`assigned_to=me`;
        another's is `403 assignee_filter_not_allowed`); supervisors and admins on anyone's."""
        after = decode_cursor(cursor, datetime.fromisoformat, UUID) if cursor else None
        assignee = assignee_filter(reader, assigned_to)
        if assignee is not None and unassigned:
            raise InvalidFields([("query.unassigned", "not with assigned_to")])
        async with work.reading() as adapters:
            items = await adapters.views.page(
                status=status,
                centres=reader.listing(centre),
                after=after,
                limit=limit + 1,
                assigned_to=assignee,
                unassigned=unassigned,
            )
        return CasePage(items=items[:limit], next_cursor=_next_cursor(items, limit))

    @router.post("/{returnee_id}/aid", status_code=201, response_model=AidView, responses=REFUSALS)
    async def post_aid(returnee_id: UUID, command: GrantAid, write: CaseWrite) -> JSONResponse:
        """Grants aid to the returnee of an open case, published as `aid.granted`.

        Cash and business start-up grants need an `amount` and draw on the returnee's budget
        (XOF): beyond what remains is `422 budget_exceeded` (with `remaining_budget`), except for
        a supervisor or an admin (then `exceeded_budget` is true). Immediate aid given over 72
        hours after arrival is recorded, flagged `late`. A closed case is `409 case_closed`
        (`case_merged`: use the case in `merged_into`). Case workers, supervisors and admins,
        within their centres; a retry with the same `Idempotency-Key` gets the first answer."""

        async def grant(adapters: CaseWork) -> tuple[int, Any]:
            granted = await grant_aid(
                adapters.cases,
                adapters.events(traceparent=write.trace),
                returnee_id=returnee_id,
                command=command,
                actor=write.actor,
                budget=context.budget,
                now=write.now,
            )
            view = AidView(**granted.aid.model_dump(), exceeded_budget=granted.exceeded_budget)
            log.info(
                "aid granted",
                returnee_id=str(returnee_id),
                aid_id=str(view.aid_id),
                category=view.category,
                exceeded_budget=view.exceeded_budget,
                trace_id=trace_id(write.trace),
            )
            return 201, view.model_dump(mode="json")

        return await write.once(work, command, grant)

    @router.post("/{returnee_id}/close", response_model=CaseSummary, responses=REFUSALS)
    async def post_close(returnee_id: UUID, command: CloseCase, write: CaseWrite) -> JSONResponse:
        """Closes an open case with a `reason`, published as `case.closed`; answers the case.

        Case workers, supervisors and admins, within their centres (another centre's case is
        `404 case_not_found`). A closed case is `409 case_closed` (`case_merged` for a duplicate
        registration); `POST /cases/{returnee_id}/reopening` opens it again. A retry with the
        same `Idempotency-Key` gets the first answer."""

        async def close(adapters: CaseWork) -> tuple[int, Any]:
            await close_case(
                adapters.cases,
                adapters.events(traceparent=write.trace),
                returnee_id=returnee_id,
                reason=command.reason,
                actor=write.actor,
                now=write.now,
            )
            log.info("case closed", returnee_id=str(returnee_id), reason=command.reason)
            return await summary_answer(adapters, returnee_id)

        return await write.once(work, command, close)

    @router.post("/{returnee_id}/reopening", response_model=CaseSummary, responses=REFUSALS)
    async def post_reopening(
        returnee_id: UUID, command: ReopenCase, write: CaseWrite
    ) -> JSONResponse:
        """Opens a closed case again (case.reopened), and schedules its visits not done again
        (follow_up.scheduled). A duplicate registration's case stays closed (409
        case_merged): the person's case is the one to reopen."""

        async def reopen(adapters: CaseWork) -> tuple[int, Any]:
            await reopen_case(
                adapters.cases,
                adapters.follow_ups,
                adapters.events(traceparent=write.trace),
                returnee_id=returnee_id,
                reason=command.reason,
                actor=write.actor,
                now=write.now,
            )
            log.info("case reopened", returnee_id=str(returnee_id), reason=command.reason)
            return await summary_answer(adapters, returnee_id)

        return await write.once(work, command, reopen)

    return router


async def summary_answer(adapters: CaseWork, returnee_id: UUID) -> tuple[int, Any]:
    """The answer of a write that changed the case: the case as it is now, in the write's
    transaction (the use case found it, and the caller may act on it)."""
    summary = await adapters.views.summary(returnee_id, centres=None)
    assert summary is not None
    return 200, summary.model_dump(mode="json")


def _next_cursor(items: list[CaseSummary], limit: int) -> str | None:
    if len(items) <= limit:
        return None
    last = items[limit - 1]
    return encode_cursor(last.registered_at, last.returnee_id)
