"""decide_duplicate: a supervisor decides whether a pair of registrations is one person.

Runs in the caller's transaction (which also holds the request's Idempotency-Key). The review
and both registrations are locked, so two supervisors deciding the same pair, or two pairs of
the same person, one after the other, never merge a registration twice or into a registration
that was merged meanwhile. The merge, its ``returnee.merged`` in the outbox and the access log
commit together or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol
from uuid import UUID

from retour_contracts import ReturneeMerged
from retour_intake.domain.reviews import (
    CannotMerge,
    DecideDuplicate,
    Decision,
    Review,
    ReviewNotFound,
    ReviewStatus,
    check_decision,
)
from retour_intake.protection import Staff

MAX_MERGE_CHAIN = 20


@dataclass(frozen=True)
class Standing:
    """Where a registration stands, as far as a merge is concerned."""

    erased: bool
    merged_into: UUID | None
    centre: str


class ReviewUnitOfWork(Protocol):
    async def lock_review(self, review_id: UUID, *, centres: list[str] | None) -> Review | None:
        """The review, locked, if its later registration is within ``centres``."""
        ...

    async def lock_registrations(self, returnee_ids: Sequence[UUID]) -> dict[UUID, Standing]:
        """The registrations, locked until the transaction ends (in id order: no deadlock)."""
        ...

    async def decide(self, review: Review) -> None: ...
    async def merge(self, returnee_id: UUID, *, into: UUID, at: datetime) -> list[UUID]:
        """Points ``returnee_id``, and whoever was merged into it, to ``into``; returns the
        registrations that now point to ``into`` because of this merge."""
        ...

    async def publish_merge(self, event: ReturneeMerged) -> None: ...
    async def record_decision(self, staff: Staff, review: Review) -> None: ...


async def decide_duplicate(
    uow: ReviewUnitOfWork,
    review_id: UUID,
    command: DecideDuplicate,
    *,
    staff: Staff,
    now: datetime,
) -> Review:
    """The review as decided. Raises ReviewNotFound, AlreadyDecided, ReasonRequired or
    CannotMerge; every refusal leaves everything as it was."""
    review = await uow.lock_review(review_id, centres=staff.centres)
    if review is None:
        raise ReviewNotFound(review_id)
    if not check_decision(review, command):
        return review  # decided the same way before: nothing more to do
    if command.decision is Decision.SAME_PERSON:
        await _merge(uow, review, staff=staff, now=now)
    decided = replace(
        review,
        status=ReviewStatus(command.decision.value),
        decided_at=now,
        decided_by=staff.subject,
        reason=command.reason.value if command.reason else None,
    )
    await uow.decide(decided)
    await uow.record_decision(staff, decided)
    return decided


async def _merge(uow: ReviewUnitOfWork, review: Review, *, staff: Staff, now: datetime) -> None:
    later = review.returnee_id
    target = review.candidate_id
    standings = await uow.lock_registrations([later, target])
    # The earlier registration may have been merged into a third since: the person is there.
    for _ in range(MAX_MERGE_CHAIN):
        merged_into = standings[target].merged_into
        if merged_into is None:
            break
        target = merged_into
        standings |= await uow.lock_registrations([target])
    if standings[later].erased or standings[target].erased:
        raise CannotMerge("one of the two registrations was erased")
    if standings[later].merged_into is not None:
        raise CannotMerge("the later registration was already merged into another")
    if target == later:
        raise CannotMerge("the earlier registration was merged into the later one")
    # The person's registration takes the duplicate's case, aid and messages: a supervisor
    # must reach it, not only the duplicate.
    if staff.centres is not None and standings[target].centre not in staff.centres:
        raise CannotMerge("the registration to merge into is not within your centres")
    for returnee_id in await uow.merge(later, into=target, at=now):
        await uow.publish_merge(
            ReturneeMerged(
                returnee_id=returnee_id, merged_into=target, merged_at=now, merged_by=staff.subject
            )
        )
