"""Closing a case, and opening a closed one again: each published (case.closed,
case.reopened), a reopened case's visits not done scheduled again."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from retour_contracts import ClosureReason, ReopeningReason
from retour_reintegration.domain.actor import Actor
from retour_reintegration.domain.case import Case
from retour_reintegration.domain.closure import Reopening, closed_event
from retour_reintegration.usecases.case_in_reach import lock_case_in_reach
from retour_reintegration.usecases.follow_ups import republish_visits
from retour_reintegration.usecases.ports import CaseRepository, EventOutbox, FollowUpRepository


async def close_case(
    cases: CaseRepository,
    outbox: EventOutbox,
    *,
    returnee_id: UUID,
    reason: ClosureReason,
    actor: Actor,
    now: datetime,
) -> Case:
    case = await lock_case_in_reach(cases, returnee_id, actor)
    closed = case.close(reason, at=now, by=actor.subject)
    await cases.save_closure(closed)
    await outbox.emit(closed_event(closed))
    return closed


async def reopen_case(
    cases: CaseRepository,
    follow_ups: FollowUpRepository,
    outbox: EventOutbox,
    *,
    returnee_id: UUID,
    reason: ReopeningReason,
    actor: Actor,
    now: datetime,
) -> Case:
    case = await lock_case_in_reach(cases, returnee_id, actor)
    reopened = case.reopen()  # refused first: a case merged, or open
    reopening = Reopening.of(case, reason, at=now, by=actor.subject)
    await cases.save_reopening(reopened, reopening)
    await outbox.emit(reopening.event())
    # After case.reopened, so that a consumer that stopped reminders at case.closed re-arms them.
    await republish_visits(follow_ups, outbox, reopened)
    return reopened
