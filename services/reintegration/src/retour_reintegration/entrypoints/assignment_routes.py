"""HTTP routes of assignment: a supervisor assigns a case (or a case worker takes one), and sees
the case workers' workload."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from uuid import UUID

import structlog
from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from retour_kit.tracing import trace_id
from retour_reintegration.adapters.unit_of_work import CaseWork
from retour_reintegration.domain.commands import AssignCase
from retour_reintegration.entrypoints.access import Supervisor, supervises
from retour_reintegration.entrypoints.cases_api import summary_answer
from retour_reintegration.entrypoints.context import ApiContext
from retour_reintegration.entrypoints.rule_violations import REFUSALS
from retour_reintegration.entrypoints.writes import CaseWrite
from retour_reintegration.usecases import assign_case
from retour_reintegration.views.models import CaseSummary, CaseWorkerList

log = structlog.stdlib.get_logger(__name__)


def assignment_router(context: ApiContext) -> APIRouter:
    router = APIRouter(tags=["case work"])
    work = context.work

    @router.post("/cases/{returnee_id}/assignment", response_model=CaseSummary, responses=REFUSALS)
    async def post_assignment(
        returnee_id: UUID, command: AssignCase, write: CaseWrite
    ) -> JSONResponse:
        """A supervisor assigns or reassigns the case to a case worker of its centre; a case
        worker takes an unassigned case for themselves (``case_worker``: their own id)."""

        async def assign(adapters: CaseWork) -> tuple[int, Any]:
            case = await assign_case(
                adapters.cases,
                adapters.roster,
                adapters.events(traceparent=write.trace),
                returnee_id=returnee_id,
                case_worker=command.case_worker,
                actor=write.actor,
                supervises=supervises(write.principal),
                now=write.now,
            )
            log.info("case assigned", returnee_id=str(returnee_id), trace_id=trace_id(write.trace))
            return await summary_answer(adapters, case.returnee_id)

        return await write.once(work, command, assign)

    @router.get("/case-workers", response_model=CaseWorkerList)
    async def get_case_workers(
        supervisor: Supervisor,
        due_within_days: Annotated[int, Query(ge=1, le=366)] = 30,
    ) -> CaseWorkerList:
        """Case workers of the supervisor's centres (those who used reintegration there, and
        whoever has open cases there) with their open cases and visits due and overdue."""
        today = datetime.now(UTC).date()
        async with work.reading() as adapters:
            return await adapters.views.case_workers(
                centres=supervisor.centre_filter,
                today=today,
                due_until=today + timedelta(days=due_within_days),
            )

    return router
