"""Monitoring visits: scheduled when a case opens, moved with the case (an arrival corrected, a
transfer), published again when a closed case reopens, and recorded as made."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID, uuid4

from retour_reintegration.domain.actor import Actor
from retour_reintegration.domain.case import Case
from retour_reintegration.domain.commands import RecordVisit
from retour_reintegration.domain.follow_up import (
    DEFAULT_PERIODS,
    Visit,
    moved,
    record_visit,
    schedule,
)
from retour_reintegration.usecases.case_in_reach import lock_case_in_reach
from retour_reintegration.usecases.ports import CaseRepository, EventOutbox, FollowUpRepository


@dataclass(frozen=True)
class Lifecycle:
    """What the consumer path needs to publish a case's life beyond its row: the case's visits,
    the batch's outbox (each event with the trace of the record about its returnee), and the
    periods at which a new case's visits fall due."""

    follow_ups: FollowUpRepository
    outbox: EventOutbox
    periods: tuple[int, ...] = DEFAULT_PERIODS


async def schedule_visits(lifecycle: Lifecycle, opened: Sequence[Case]) -> int:
    """Schedules and publishes the visits of cases that have just opened (with their facts as
    corrected so far); a visit stored already is neither stored nor published again."""
    visits = [visit for case in opened for visit in schedule(case, lifecycle.periods)]
    if not visits:
        return 0
    new = await lifecycle.follow_ups.add(visits)
    centres = {case.returnee_id: case.reception_centre for case in opened}
    for visit in new:
        await lifecycle.outbox.emit(visit.scheduled(centres[visit.returnee_id]))
    return len(new)


async def reschedule_visits(lifecycle: Lifecycle, changes: Mapping[UUID, tuple[Case, Case]]) -> int:
    """Moves the visits not done of cases whose facts changed (``before, after``): a corrected
    arrival moves their due dates, a transfer their centre. Each changed visit of an open case
    is published again; a closed case's are published when it reopens (after case.closed,
    nothing may re-arm a reminder)."""
    if not changes:
        return 0
    visits = await lifecycle.follow_ups.of_cases(sorted(changes))
    published = 0
    for returnee_id, (before, after) in changes.items():
        changed = moved(before, after, visits.get(returnee_id, ()))
        if not changed:
            continue
        await lifecycle.follow_ups.save_due_dates(changed)
        if after.is_open:
            for visit in changed:
                await lifecycle.outbox.emit(visit.scheduled(after.reception_centre))
            published += len(changed)
    return published


async def republish_visits(follow_ups: FollowUpRepository, outbox: EventOutbox, case: Case) -> int:
    """Publishes again the visits not done of ``case`` (just reopened), as they stand."""
    visits = (await follow_ups.of_cases([case.returnee_id])).get(case.returnee_id, [])
    due = [visit for visit in visits if not visit.is_done]
    for visit in due:
        await outbox.emit(visit.scheduled(case.reception_centre))
    return len(due)


async def record_follow_up_visit(
    cases: CaseRepository,
    follow_ups: FollowUpRepository,
    outbox: EventOutbox,
    *,
    returnee_id: UUID,
    follow_up_id: UUID,
    command: RecordVisit,
    actor: Actor,
    now: datetime,
    new_id: Callable[[], UUID] = uuid4,
) -> Visit:
    # The case's lock makes two recordings of one visit take turns: the second sees the first
    # completed (and the unique index would refuse a second completed visit anyway).
    case = await lock_case_in_reach(cases, returnee_id, actor)
    visit = record_visit(
        case,
        await follow_ups.get(follow_up_id),
        follow_up_id=follow_up_id,
        assessment_id=new_id(),
        outcome=command.outcome,
        visited_on=command.visited_on,
        answers=command.answers,
        at=now,
        by=actor.subject,
    )
    await follow_ups.add_visit(visit)
    await outbox.emit(visit.event())
    return visit
