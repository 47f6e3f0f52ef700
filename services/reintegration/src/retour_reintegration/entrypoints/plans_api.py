"""HTTP routes of a case's reintegration plan: draft a revision, agree it with the returnee,
move an item's status along, read the plan with its history and its KPI."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import structlog
from fastapi import APIRouter
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from retour_kit.tracing import trace_id
from retour_reintegration.adapters.unit_of_work import CaseWork
from retour_reintegration.domain.errors import CaseNotFound
from retour_reintegration.domain.plan import PlanItem
from retour_reintegration.domain.plan_commands import AgreePlan, ChangeItemStatus, DraftRevision
from retour_reintegration.entrypoints.access import Reader
from retour_reintegration.entrypoints.context import ApiContext
from retour_reintegration.entrypoints.rule_violations import REFUSALS
from retour_reintegration.entrypoints.writes import CaseWrite
from retour_reintegration.usecases.plans import agree_plan, draft_revision, set_item_status
from retour_reintegration.views.plan_models import PlanRevisionView, PlanView

log = structlog.stdlib.get_logger(__name__)

PLAN_REFUSALS: dict[int | str, dict[str, Any]] = {
    **REFUSALS,
    404: {
        "description": "No case for a returnee (case_not_found), or no such item in the plan"
        " in force or its draft (plan_item_not_found).",
    },
    409: {
        "description": "The case is closed (case_closed, case_merged); the revision to agree"
        " was replaced by a later one (plan_revision_outdated) or is agreed already"
        " (plan_revision_agreed).",
    },
}


def plans_router(context: ApiContext) -> APIRouter:
    router = APIRouter(prefix="/cases/{returnee_id}/plan", tags=["plans"])
    work = context.work

    @router.get("", response_model=PlanView, responses={404: REFUSALS[404]})
    async def get_plan(returnee_id: UUID, reader: Reader) -> PlanView:
        """The case's reintegration plan, with its history and its one-month KPI.

        `current` is the latest revision (draft or agreed), `agreed` the plan in force (the
        latest agreed); `revisions` and `status_changes` list them all, oldest first. The KPI:
        days from arrival to the first agreement, and whether within `target_days` (a measure,
        never a deadline). Case workers, supervisors and admins; a case at a centre outside
        yours is `404 case_not_found`."""
        async with work.transaction() as adapters:  # one snapshot of the case and its plan
            case = await adapters.views.summary(returnee_id, centres=reader.centre_filter)
            if case is None:
                raise CaseNotFound([returnee_id])
            revisions = await adapters.plans.revisions(returnee_id)
            changes = await adapters.plans.status_changes(returnee_id)
        return PlanView.of(returnee_id, case.arrival_date, revisions, changes)

    @router.post(
        "/revisions", status_code=201, response_model=PlanRevisionView, responses=PLAN_REFUSALS
    )
    async def post_revision(
        returnee_id: UUID, command: DraftRevision, write: CaseWrite
    ) -> JSONResponse:
        """Drafts the next revision of an open case's plan: a draft until agreed with the returnee.

        An item carried over from the previous revision names its `item_id` (a new item leaves
        it out); a changed status is kept in the history. Each item's category belongs to its
        dimension, its target date is not before arrival, and a partner's item names an active
        partner serving the case's centre and offering the service (else `422`, e.g.
        `partner_inactive`). A closed case is `409 case_closed` (`case_merged`). A retry with
        the same `Idempotency-Key` gets the first answer."""

        async def drafted(adapters: CaseWork) -> tuple[int, Any]:
            revision = await draft_revision(
                adapters.cases,
                adapters.plans,
                adapters.partners,
                returnee_id=returnee_id,
                command=command,
                actor=write.actor,
                now=write.now,
            )
            log.info(
                "plan revision drafted",
                returnee_id=str(returnee_id),
                revision=revision.revision,
                items=len(revision.items),
            )
            return 201, PlanRevisionView.of(revision).model_dump(mode="json")

        return await write.once(work, command, drafted)

    @router.post("/agreement", response_model=PlanRevisionView, responses=PLAN_REFUSALS)
    async def post_agreement(
        returnee_id: UUID, command: AgreePlan, write: CaseWrite
    ) -> JSONResponse:
        """Records that the returnee agreed to the latest revision on `agreed_on`.

        It becomes the plan in force, published as `reintegration.plan_agreed`. An earlier
        revision is `409 plan_revision_outdated`, one agreed already `409 plan_revision_agreed`
        (both with `current_revision`). `agreed_on` is neither in the future nor before arrival
        or the previous agreement. A closed case is `409 case_closed` (`case_merged`). A retry
        with the same `Idempotency-Key` gets the first answer."""

        async def agreed(adapters: CaseWork) -> tuple[int, Any]:
            revision = await agree_plan(
                adapters.cases,
                adapters.plans,
                adapters.events(traceparent=write.trace),
                returnee_id=returnee_id,
                command=command,
                actor=write.actor,
                now=write.now,
            )
            log.info(
                "plan agreed",
                returnee_id=str(returnee_id),
                revision=revision.revision,
                trace_id=trace_id(write.trace),
            )
            return 200, PlanRevisionView.of(revision).model_dump(mode="json")

        return await write.once(work, command, agreed)

    @router.patch("/items/{item_id}", response_model=PlanItem, responses=PLAN_REFUSALS)
    async def patch_item(
        returnee_id: UUID, item_id: UUID, command: ChangeItemStatus, write: CaseWrite
    ) -> JSONResponse:
        """Sets the status of a plan item, kept in the plan's history; answers the item.

        The item is one of the plan in force or of its draft (both copies change), else
        `404 plan_item_not_found`; setting the status it has already changes nothing. A closed
        case is `409 case_closed` (`case_merged`). A retry with the same `Idempotency-Key` gets
        the first answer."""

        async def changed(adapters: CaseWork) -> tuple[int, Any]:
            item = await set_item_status(
                adapters.cases,
                adapters.plans,
                returnee_id=returnee_id,
                item_id=item_id,
                command=command,
                actor=write.actor,
                now=write.now,
            )
            log.info(
                "plan item status set",
                returnee_id=str(returnee_id),
                item_id=str(item_id),
                status=item.status,
            )
            return 200, jsonable_encoder(item)

        return await write.once(work, command, changed)

    return router
