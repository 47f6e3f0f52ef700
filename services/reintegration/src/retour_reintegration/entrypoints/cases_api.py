"""HTTP routes of cases: read them, grant aid, close them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

import structlog
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from retour_contracts import ReceptionCentre
from retour_kit.pagination import decode_cursor, encode_cursor
from retour_kit.tracing import TraceParentHeader, continued_trace, trace_id
from retour_reintegration.adapters.unit_of_work import CaseWork
from retour_reintegration.domain.case import CaseStatus
from retour_reintegration.domain.commands import CloseCase, GrantAid
from retour_reintegration.domain.errors import CaseNotFound
from retour_reintegration.entrypoints.access import Reader, Writer, actor_of
from retour_reintegration.entrypoints.context import ApiContext
from retour_reintegration.entrypoints.idempotent import IdempotencyKey, respond_once
from retour_reintegration.entrypoints.rule_violations import REFUSALS
from retour_reintegration.usecases import close_case, grant_aid
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
        async with work.reading() as adapters:
            details = await adapters.views.details(
                returnee_id, context.budget, centres=reader.centre_filter
            )
        if details is None:
            raise CaseNotFound([returnee_id])
        return details

    @router.get("", response_model=CasePage)
    async def get_cases(
        reader: Reader,
        status: CaseStatus | None = None,
        centre: ReceptionCentre | None = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        cursor: Annotated[str | None, Query(max_length=200)] = None,
    ) -> CasePage:
        after = decode_cursor(cursor, datetime.fromisoformat, UUID) if cursor else None
        async with work.reading() as adapters:
            items = await adapters.views.page(
                status=status, centres=reader.listing(centre), after=after, limit=limit + 1
            )
        return CasePage(items=items[:limit], next_cursor=_next_cursor(items, limit))

    @router.post("/{returnee_id}/aid", status_code=201, response_model=AidView, responses=REFUSALS)
    async def post_aid(
        returnee_id: UUID,
        command: GrantAid,
        principal: Writer,
        idempotency_key: IdempotencyKey,
        request: Request,
        traceparent: TraceParentHeader = None,
    ) -> JSONResponse:
        trace = continued_trace(traceparent)

        async def grant(adapters: CaseWork) -> tuple[int, Any]:
            granted = await grant_aid(
                adapters.cases,
                adapters.events(traceparent=trace),
                returnee_id=returnee_id,
                command=command,
                actor=actor_of(principal),
                budget=context.budget,
                now=datetime.now(UTC),
            )
            view = AidView(**granted.aid.model_dump(), exceeded_budget=granted.exceeded_budget)
            log.info(
                "aid granted",
                returnee_id=str(returnee_id),
                aid_id=str(view.aid_id),
                category=view.category,
                exceeded_budget=view.exceeded_budget,
                trace_id=trace_id(trace),
            )
            return 201, view.model_dump(mode="json")

        return await respond_once(
            work,
            key=idempotency_key,
            principal=principal,
            path=request.url.path,
            command=command,
            action=grant,
        )

    @router.post("/{returnee_id}/close", response_model=CaseSummary, responses=REFUSALS)
    async def post_close(
        returnee_id: UUID,
        command: CloseCase,
        principal: Writer,
        idempotency_key: IdempotencyKey,
        request: Request,
    ) -> JSONResponse:
        async def close(adapters: CaseWork) -> tuple[int, Any]:
            await close_case(
                adapters.cases,
                returnee_id=returnee_id,
                reason=command.reason,
                actor=actor_of(principal),
                now=datetime.now(UTC),
            )
            summary = await adapters.views.summary(returnee_id, centres=None)
            assert summary is not None  # close_case found it, in this transaction
            log.info("case closed", returnee_id=str(returnee_id), reason=command.reason)
            return 200, summary.model_dump(mode="json")

        return await respond_once(
            work,
            key=idempotency_key,
            principal=principal,
            path=request.url.path,
            command=command,
            action=close,
        )

    return router


def _next_cursor(items: list[CaseSummary], limit: int) -> str | None:
    if len(items) <= limit:
        return None
    last = items[limit - 1]
    return encode_cursor(last.registered_at, last.returnee_id)
