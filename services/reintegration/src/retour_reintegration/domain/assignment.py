"""Who works on a case: a supervisor assigns it to a case worker of its centre, or reassigns it;
a case worker may take an unassigned case for themselves. Every change is kept, and published
(case.assigned) so that the case worker can be told."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from retour_contracts import CaseAssigned, ReceptionCentre
from retour_reintegration.domain.actor import Actor
from retour_reintegration.domain.case import Case
from retour_reintegration.domain.errors import CaseWorkerUnknown, NotAllowed

FIELD = "body.case_worker"


@dataclass(frozen=True)
class Assignment:
    returnee_id: UUID
    reception_centre: ReceptionCentre
    assigned_to: str
    previous: str | None
    assigned_by: str
    assigned_at: datetime

    def event(self) -> CaseAssigned:
        return CaseAssigned(
            returnee_id=self.returnee_id,
            reception_centre=self.reception_centre,
            assigned_to=self.assigned_to,
            previous=self.previous,
            assigned_by=self.assigned_by,
            assigned_at=self.assigned_at,
        )


def assign(
    case: Case,
    *,
    to: str,
    by: Actor,
    supervises: bool,
    assignee_centres: frozenset[ReceptionCentre] | None,
    at: datetime,
) -> Assignment | None:
    """The assignment of ``case`` (open, at a centre of ``by``) to case worker ``to``, whose
    centres on the roster are ``assignee_centres`` (None: not on the roster). None when the case
    is theirs already: nothing changes, nothing is recorded."""
    case.check_is_open()
    if not supervises:
        if to != by.subject:
            raise NotAllowed(
                "assignment_not_allowed",
                "a case worker takes a case for themselves only: a supervisor assigns cases to"
                " others",
                field=FIELD,
            )
        if case.assigned_to is not None and case.assigned_to != by.subject:
            raise NotAllowed(
                "case_already_assigned",
                "the case has a case worker already: a supervisor reassigns it",
                field=FIELD,
            )
    if to == case.assigned_to:
        return None
    if assignee_centres is None or case.reception_centre not in assignee_centres:
        raise CaseWorkerUnknown(case.reception_centre)
    return Assignment(
        returnee_id=case.returnee_id,
        reception_centre=case.reception_centre,
        assigned_to=to,
        previous=case.assigned_to,
        assigned_by=by.subject,
        assigned_at=at,
    )
