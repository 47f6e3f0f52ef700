"""Assigning a case to a case worker (supervisors), or taking it (the case worker)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from retour_reintegration.domain.actor import Actor
from retour_reintegration.domain.assignment import assign
from retour_reintegration.domain.case import Case
from retour_reintegration.usecases.case_in_reach import lock_case_in_reach
from retour_reintegration.usecases.ports import CaseRepository, CaseWorkerRoster, EventOutbox


async def assign_case(
    cases: CaseRepository,
    roster: CaseWorkerRoster,
    outbox: EventOutbox,
    *,
    returnee_id: UUID,
    case_worker: str,
    actor: Actor,
    supervises: bool,
    now: datetime,
) -> Case:
    """The case as assigned to ``case_worker``: recorded and published (case.assigned) when
    that is a change; as it was when the case is theirs already."""
    # Locked: two case workers taking one unassigned case take turns, and the second is told
    # it is taken.
    case = await lock_case_in_reach(cases, returnee_id, actor)
    assignment = assign(
        case,
        to=case_worker,
        by=actor,
        supervises=supervises,
        assignee_centres=await roster.centres_of(case_worker),
        at=now,
    )
    if assignment is None:
        return case
    await cases.save_assignment(assignment)
    await outbox.emit(assignment.event())
    return case.assigned(assignment.assigned_to)
