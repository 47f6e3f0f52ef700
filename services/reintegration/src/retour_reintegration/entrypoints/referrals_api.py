"""HTTP routes of referrals: refer an agreed plan item to its partner, record the partner's
answer, list referrals within the caller's centres (another centre's: not found, as cases)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import structlog
from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from retour_contracts import ReferralStatus
from retour_kit.pagination import decode_cursor, encode_cursor
from retour_kit.tracing import trace_id
from retour_reintegration.adapters.unit_of_work import CaseWork
from retour_reintegration.domain.errors import CaseNotFound
from retour_reintegration.domain.referral import Referral
from retour_reintegration.domain.referral_commands import ChangeReferralStatus, SendReferral
from retour_reintegration.entrypoints.access import Reader
from retour_reintegration.entrypoints.context import ApiContext
from retour_reintegration.entrypoints.rule_violations import REFUSALS
from retour_reintegration.entrypoints.writes import CaseWrite, WriteRequest
from retour_reintegration.usecases.referrals import (
    change_referral_status,
    referral_not_found,
    send_referral,
)
from retour_reintegration.views.referral_models import ReferralList, ReferralPage, ReferralView

log = structlog.stdlib.get_logger(__name__)

REFERRAL_REFUSALS: dict[int | str, dict[str, Any]] = {
    **REFUSALS,
    404: {
        "description": "No case for a returnee (case_not_found) or no such referral"
        " (referral_not_found), or one of a case at another centre.",
    },
    409: {
        "description": "The case is closed (case_closed, case_merged); the item has an open"
        " referral already (referral_open); the referral's status does not lead to the one"
        " asked for (referral_transition, naming current_status).",
    },
}


def referrals_router(context: ApiContext) -> APIRouter:
    router = APIRouter(tags=["referrals"])
    work = context.work

    async def answer(
        adapters: CaseWork, referral: Referral, status: int, write: WriteRequest
    ) -> tuple[int, Any]:
        log.info(
            "referral updated",
            returnee_id=str(referral.returnee_id),
            referral_id=str(referral.referral_id),
            partner_id=str(referral.partner_id),
            status=referral.status,
            trace_id=trace_id(write.trace),
        )
        view = await adapters.referrals.view(referral.referral_id, centres=None)
        assert view is not None  # written in this transaction
        return status, view.model_dump(mode="json")

    @router.post(
        "/cases/{returnee_id}/referrals",
        status_code=201,
        response_model=ReferralView,
        responses=REFERRAL_REFUSALS,
    )
    async def post_referral(
        returnee_id: UUID, command: SendReferral, write: CaseWrite
    ) -> JSONResponse:
        """Refers an item of the agreed plan to the partner it names (status `sent`).

        Published as `referral.updated`. Only an item of the plan in force that a partner
        provides (else `422`, e.g. `plan_not_agreed`); the partner must still be active, serve
        the case's centre and offer the service. An item has one open referral at a time
        (`409 referral_open`); after a decline it can be referred again. A closed case is
        `409 case_closed` (`case_merged`). A retry with the same `Idempotency-Key` gets the
        first answer."""

        async def sent(adapters: CaseWork) -> tuple[int, Any]:
            referral = await send_referral(
                adapters.cases,
                adapters.plans,
                adapters.partners,
                adapters.referrals,
                adapters.events(traceparent=write.trace),
                returnee_id=returnee_id,
                command=command,
                actor=write.actor,
                now=write.now,
            )
            return await answer(adapters, referral, 201, write)

        return await write.once(work, command, sent)

    @router.post(
        "/referrals/{referral_id}/status", response_model=ReferralView, responses=REFERRAL_REFUSALS
    )
    async def post_status(
        referral_id: UUID, command: ChangeReferralStatus, write: CaseWrite
    ) -> JSONResponse:
        """Records the partner's answer to a referral, then its delivery.

        `sent` becomes `accepted` or `declined`, `accepted` becomes `completed`; any other move
        is `409 referral_transition` (with `current_status`). Published as `referral.updated`.
        Recorded even if the case was closed since. A referral of a case at a centre outside
        yours is `404 referral_not_found`. A retry with the same `Idempotency-Key` gets the
        first answer."""

        async def changed(adapters: CaseWork) -> tuple[int, Any]:
            referral = await change_referral_status(
                adapters.cases,
                adapters.referrals,
                adapters.events(traceparent=write.trace),
                referral_id=referral_id,
                command=command,
                actor=write.actor,
                now=write.now,
            )
            return await answer(adapters, referral, 200, write)

        return await write.once(work, command, changed)

    @router.get(
        "/cases/{returnee_id}/referrals",
        response_model=ReferralList,
        responses={404: REFUSALS[404]},
    )
    async def get_case_referrals(returnee_id: UUID, reader: Reader) -> ReferralList:
        """The case's referrals, oldest sent first, each with its status history.

        Case workers, supervisors and admins; a case at a centre outside yours is
        `404 case_not_found`."""
        async with work.transaction() as adapters:  # one snapshot of the case and its referrals
            case = await adapters.views.summary(returnee_id, centres=reader.centre_filter)
            if case is None:
                raise CaseNotFound([returnee_id])
            items = await adapters.referrals.of_case(returnee_id, centres=reader.centre_filter)
        return ReferralList(items=items)

    @router.get("/referrals", response_model=ReferralPage)
    async def get_referrals(
        reader: Reader,
        partner_id: UUID | None = None,
        status: ReferralStatus | None = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        cursor: Annotated[str | None, Query(max_length=200)] = None,
    ) -> ReferralPage:
        """Referrals of cases at the caller's centres, newest first."""
        after = decode_cursor(cursor, datetime.fromisoformat, UUID) if cursor else None
        async with work.reading() as adapters:
            items = await adapters.referrals.page(
                centres=reader.centre_filter,
                partner_id=partner_id,
                status=status,
                after=after,
                limit=limit + 1,
            )
        last = items[limit - 1] if len(items) > limit else None
        next_cursor = None if last is None else encode_cursor(last.sent_at, last.referral_id)
        return ReferralPage(items=items[:limit], next_cursor=next_cursor)

    @router.get(
        "/referrals/{referral_id}",
        response_model=ReferralView,
        responses={404: REFERRAL_REFUSALS[404]},
    )
    async def get_referral(referral_id: UUID, reader: Reader) -> ReferralView:
        """One referral, with its status history.

        Case workers, supervisors and admins; a referral of a case at a centre outside yours is
        `404 referral_not_found`, like one that does not exist."""
        async with work.reading() as adapters:
            view = await adapters.referrals.view(referral_id, centres=reader.centre_filter)
        if view is None:
            raise referral_not_found(referral_id)
        return view

    return router
