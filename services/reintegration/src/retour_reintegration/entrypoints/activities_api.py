"""HTTP route of income-generating activities."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import APIRouter
from fastapi.responses import JSONResponse

from retour_kit.tracing import trace_id
from retour_reintegration.adapters.unit_of_work import CaseWork
from retour_reintegration.domain.commands import LaunchActivity
from retour_reintegration.entrypoints.context import ApiContext
from retour_reintegration.entrypoints.rule_violations import REFUSALS
from retour_reintegration.entrypoints.writes import CaseWrite
from retour_reintegration.usecases import launch_activity
from retour_reintegration.views.models import ActivityView

log = structlog.stdlib.get_logger(__name__)


def activities_router(context: ApiContext) -> APIRouter:
    router = APIRouter(prefix="/activities", tags=["activities"])

    @router.post("", status_code=201, response_model=ActivityView, responses=REFUSALS)
    async def post_activity(command: LaunchActivity, write: CaseWrite) -> JSONResponse:
        """Launches an income-generating activity, published as `activity.launched`.

        An individual activity has one participant, a collective one at least two; a funded
        collective activity records each participant's share, adding up to the funding. Every
        participant's case must be open (`409 case_closed`, `case_merged`) and at your centres
        (else `404 case_not_found`); linked `aid_ids` must have been granted to a participant.
        `launched_at` is neither ahead of now nor before a participant's arrival. A retry with
        the same `Idempotency-Key` gets the first answer."""

        async def launch(adapters: CaseWork) -> tuple[int, Any]:
            activity = await launch_activity(
                adapters.cases,
                adapters.events(traceparent=write.trace),
                command=command,
                actor=write.actor,
                now=write.now,
            )
            log.info(
                "activity launched",
                activity_id=str(activity.activity_id),
                participants=len(activity.returnee_ids),
                trace_id=trace_id(write.trace),
            )
            view = ActivityView(**activity.model_dump(), launched_by=write.principal.subject)
            return 201, view.model_dump(mode="json")

        return await write.once(context.work, command, launch)

    return router
