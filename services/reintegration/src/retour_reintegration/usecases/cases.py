from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from retour_contracts import RegistrationFacts
from retour_reintegration.domain.actor import Actor
from retour_reintegration.domain.case import Case, ClosureReason
from retour_reintegration.domain.errors import CaseNotFound
from retour_reintegration.usecases.ports import CaseRepository


async def open_cases(cases: CaseRepository, registrations: Sequence[RegistrationFacts]) -> int:
    """Opens a case per returnee of a consumer batch; returns how many were new."""
    return await cases.add_many([Case.open_for(registration) for registration in registrations])


async def close_case(
    cases: CaseRepository,
    *,
    returnee_id: UUID,
    reason: ClosureReason,
    actor: Actor,
    now: datetime,
) -> Case:
    case = await cases.lock(returnee_id)
    # Another centre's case is not found rather than forbidden: need-to-know covers knowing
    # that the person has a case at all.
    if case is None or not actor.works_at(case.reception_centre):
        raise CaseNotFound([returnee_id])
    closed = case.close(reason, at=now, by=actor.subject)
    await cases.save_closure(closed)
    return closed
