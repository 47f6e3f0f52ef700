"""HTTP route of income-generating activities."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from retour_kit.tracing import TraceParentHeader, continued_trace, trace_id
from retour_reintegration.adapters.unit_of_work import CaseWork
from retour_reintegration.domain.commands import LaunchActivity
from retour_reintegration.entrypoints.access import Writer, actor_of
from retour_reintegration.entrypoints.context import ApiContext
from retour_reintegration.entrypoints.idempotent import IdempotencyKey, respond_once
from retour_reintegration.entrypoints.rule_violations import REFUSALS
from retour_reintegration.usecases import launch_activity
from retour_reintegration.views.models import ActivityView

log = structlog.stdlib.get_logger(__name__)


def activities_router(context: ApiContext) -> APIRouter:
    router = APIRouter(prefix="/activities", tags=["activities"])

    @router.post("", status_code=201, response_model=ActivityView, responses=REFUSALS)
    async def post_activity(
        command: LaunchActivity,
        principal: Writer,
        idempotency_key: IdempotencyKey,
        request: Request,
        traceparent: TraceParentHeader = None,
    ) -> JSONResponse:
        trace = continued_trace(traceparent)

        async def launch(adapters: CaseWork) -> tuple[int, Any]:
            activity = await launch_activity(
                adapters.cases,
                adapters.events(traceparent=trace),
                command=command,
                actor=actor_of(principal),
                now=datetime.now(UTC),
            )
            log.info(
                "activity launched",
                activity_id=str(activity.activity_id),
                participants=len(activity.returnee_ids),
                trace_id=trace_id(trace),
            )
            view = ActivityView(**activity.model_dump(), launched_by=principal.subject)
            return 201, view.model_dump(mode="json")

        return await respond_once(
            context.work,
            key=idempotency_key,
            principal=principal,
            path=request.url.path,
            command=command,
            action=launch,
        )

    return router
