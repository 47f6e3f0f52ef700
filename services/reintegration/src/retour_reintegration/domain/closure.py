"""Closing a case and opening it again, as the events reporting and notifications read
(case.closed, case.reopened): after case.closed no reminder is sent; case.reopened is followed
by the case's visits not yet done, scheduled again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from retour_contracts import CaseClosed, CaseReopened, ClosureReason, ReopeningReason
from retour_reintegration.domain.case import Case


def closed_event(case: Case) -> CaseClosed:
    """``case.closed`` of a case just closed (by a case worker, or as a duplicate registration:
    then when and by whom the merge was decided)."""
    if case.closure_reason is None or case.closed_at is None or case.closed_by is None:
        raise ValueError("the case is not closed")
    return CaseClosed(
        returnee_id=case.returnee_id,
        reason=case.closure_reason,
        closed_at=case.closed_at,
        closed_by=case.closed_by,
    )


@dataclass(frozen=True)
class Reopening:
    """A closed case opened again, with the closure it undid (kept as the case's history)."""

    returnee_id: UUID
    reason: ReopeningReason
    reopened_at: datetime
    reopened_by: str
    closure_reason: ClosureReason
    closed_at: datetime
    closed_by: str

    @classmethod
    def of(cls, case: Case, reason: ReopeningReason, *, at: datetime, by: str) -> Reopening:
        """The reopening of ``case`` (closed, as it was before reopening)."""
        if case.closure_reason is None or case.closed_at is None or case.closed_by is None:
            raise ValueError("only a closed case is reopened")
        return cls(
            returnee_id=case.returnee_id,
            reason=reason,
            reopened_at=at,
            reopened_by=by,
            closure_reason=case.closure_reason,
            closed_at=case.closed_at,
            closed_by=case.closed_by,
        )

    def event(self) -> CaseReopened:
        return CaseReopened(
            returnee_id=self.returnee_id,
            reason=self.reason,
            reopened_at=self.reopened_at,
            reopened_by=self.reopened_by,
        )
