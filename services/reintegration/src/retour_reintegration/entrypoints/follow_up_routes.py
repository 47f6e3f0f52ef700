"""HTTP routes of monitoring visits: the due list, and a visit made."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any
from uuid import UUID

import structlog
from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from retour_contracts import ReceptionCentre
from retour_kit.pagination import decode_cursor, encode_cursor
from retour_kit.tracing import trace_id
from retour_reintegration.adapters.unit_of_work import CaseWork
from retour_reintegration.domain.commands import RecordVisit
from retour_reintegration.domain.follow_up import Visit
from retour_reintegration.entrypoints.access import AssignedTo, Reader, assignee_filter
from retour_reintegration.entrypoints.context import ApiContext
from retour_reintegration.entrypoints.rule_violations import REFUSALS
from retour_reintegration.entrypoints.writes import CaseWrite
from retour_reintegration.usecases import record_follow_up_visit
from retour_reintegration.views.models import DueFollowUp, FollowUpPage, VisitView

log = structlog.stdlib.get_logger(__name__)


def follow_up_router(context: ApiContext) -> APIRouter:
    router = APIRouter(tags=["case work"])
    work = context.work

    @router.get("/follow-ups", response_model=FollowUpPage, responses={403: REFUSALS[403]})
    async def get_follow_ups(
        reader: Reader,
        due_before: Annotated[
            date | None, Query(description="Only visits due before this day (excluded).")
        ] = None,
        centre: ReceptionCentre | None = None,
        assigned_to: AssignedTo = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        cursor: Annotated[str | None, Query(max_length=200)] = None,
    ) -> FollowUpPage:
        """Visits not completed of the open cases of the caller's centres, by due date."""
        after = decode_cursor(cursor, date.fromisoformat, UUID) if cursor else None
        assignee = assignee_filter(reader, assigned_to)
        async with work.reading() as adapters:
            items = await adapters.views.due_follow_ups(
                due_before=due_before,
                centres=reader.listing(centre),
                assigned_to=assignee,
                after=after,
                limit=limit + 1,
            )
        return FollowUpPage(items=items[:limit], next_cursor=_next_cursor(items, limit))

    @router.post(
        "/cases/{returnee_id}/follow-ups/{follow_up_id}/visit",
        status_code=201,
        response_model=VisitView,
        responses=REFUSALS,
    )
    async def post_visit(
        returnee_id: UUID, follow_up_id: UUID, command: RecordVisit, write: CaseWrite
    ) -> JSONResponse:
        """Records a visit: the survey taken (scored, and published as reintegration.assessed
        with the scores only), or the returnee unreachable (the visit stays due, and may be
        recorded again). A completed visit is final."""

        async def record(adapters: CaseWork) -> tuple[int, Any]:
            visit = await record_follow_up_visit(
                adapters.cases,
                adapters.follow_ups,
                adapters.events(traceparent=write.trace),
                returnee_id=returnee_id,
                follow_up_id=follow_up_id,
                command=command,
                actor=write.actor,
                now=write.now,
            )
            log.info(
                "follow-up visit recorded",
                returnee_id=str(returnee_id),
                follow_up_id=str(follow_up_id),
                outcome=visit.outcome,
                trace_id=trace_id(write.trace),
            )
            return 201, _view(visit).model_dump(mode="json")

        return await write.once(work, command, record)

    return router


def _view(visit: Visit) -> VisitView:
    return VisitView(
        assessment_id=visit.assessment_id,
        follow_up_id=visit.follow_up.follow_up_id,
        period_months=visit.follow_up.period_months,
        outcome=visit.outcome,
        visited_on=visit.visited_on,
        recorded_at=visit.recorded_at,
        recorded_by=visit.recorded_by,
        scores=visit.scores,
        method=visit.method,
        answers=None if visit.answers is None else dict(visit.answers),
    )


def _next_cursor(items: list[DueFollowUp], limit: int) -> str | None:
    if len(items) <= limit:
        return None
    last = items[limit - 1]
    return encode_cursor(last.due_on, last.follow_up_id)
