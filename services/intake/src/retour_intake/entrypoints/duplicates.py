"""HTTP routes of the duplicate review queue: supervisors list the pairs and decide."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

import structlog
from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse

from retour_intake.adapters.pg_reviews import PgReviews, review_json
from retour_intake.domain.reviews import (
    AlreadyDecided,
    CannotMerge,
    DecideDuplicate,
    ReasonRequired,
    ReviewNotFound,
    ReviewStatus,
)
from retour_intake.entrypoints.data_requests import staff_of
from retour_intake.entrypoints.response_models.duplicates import DuplicateReview, ReviewPage
from retour_intake.reviews import decide_duplicate
from retour_kit.auth import Principal, Role, require_roles
from retour_kit.http_errors import ApiError, invalid_fields
from retour_kit.idempotency import RequiredIdempotencyKey, respond_once
from retour_kit.unit_of_work import UnitOfWork

log = structlog.stdlib.get_logger(__name__)

Supervisor = Annotated[Principal, Depends(require_roles(Role.SUPERVISOR))]

_DECISION_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": DuplicateReview, "description": "The review as decided"},
    404: {"description": "No such review within your centres"},
    409: {"description": "Decided otherwise before, or the pair cannot be merged"},
}


def duplicate_routes(reviews: UnitOfWork[PgReviews]) -> APIRouter:
    router = APIRouter(tags=["duplicates"])

    @router.get(
        "/duplicates",
        # The dict is answered as built: ReviewPage only documents it.
        response_model=None,
        responses={200: {"model": ReviewPage, "description": "One page of pairs to review"}},
    )
    async def list_reviews(
        supervisor: Supervisor,
        status: ReviewStatus = ReviewStatus.OPEN,
        cursor: Annotated[str | None, Query(max_length=200)] = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
    ) -> dict[str, Any]:
        """Pairs of registrations that duplicate detection matched, oldest first, each with
        both registrations to compare (the other one's only if it is within your centres)."""
        staff = staff_of(supervisor)
        async with reviews.transaction() as work:
            page = await work.page(status, centres=staff.centres, after=cursor, limit=limit)
            await work.record_listed(staff, page.shown)
        return {"items": page.items, "next_cursor": page.next_cursor}

    @router.post("/duplicates/{review_id}/decision", responses=_DECISION_RESPONSES)
    async def decide(
        review_id: UUID,
        command: DecideDuplicate,
        supervisor: Supervisor,
        idempotency_key: RequiredIdempotencyKey,
    ) -> JSONResponse:
        """Decide a pair: ``not_duplicate`` closes it; ``same_person`` merges the later
        registration into the earlier one, and every service follows (returnee.merged)."""

        async def perform(work: PgReviews) -> tuple[int, Any]:
            try:
                decided = await decide_duplicate(
                    work, review_id, command, staff=staff_of(supervisor), now=datetime.now(UTC)
                )
            except ReviewNotFound:
                raise ApiError(404, "not_found", f"no duplicate review {review_id}") from None
            except AlreadyDecided as decided_before:
                raise ApiError(
                    409,
                    "already_decided",
                    f"this pair was decided before: {decided_before.status.value}",
                ) from None
            except ReasonRequired as missing:
                raise invalid_fields(("body.reason", str(missing))) from None
            except CannotMerge as refused:
                raise ApiError(409, "cannot_merge", str(refused)) from None
            log.info(
                "duplicate review decided",
                review_id=str(review_id),
                returnee_id=str(decided.returnee_id),
                decision=decided.status.value,
            )
            return 200, review_json(decided)

        async with reviews.transaction() as work:
            return await respond_once(
                work,
                key=idempotency_key,
                subject=supervisor.subject,
                method="POST",
                path=f"/duplicates/{review_id}/decision",
                body=command.model_dump(mode="json"),
                action=perform,
            )

    return router
