"""The case a write of case work names, locked: writes of one case take turns (closures,
grants, visits, plan revisions, referrals, assignments), and a case cannot change while another
write holds it."""

from __future__ import annotations

from uuid import UUID

from retour_reintegration.domain.actor import Actor
from retour_reintegration.domain.case import Case
from retour_reintegration.domain.errors import CaseNotFound
from retour_reintegration.usecases.ports import CaseRepository


async def lock_case_in_reach(cases: CaseRepository, returnee_id: UUID, actor: Actor) -> Case:
    """The case, locked, if it is at one of the actor's centres. Another centre's case is not
    found rather than forbidden: need-to-know covers knowing that the person has a case at all."""
    case = await cases.lock(returnee_id)
    if case is None or not actor.works_at(case.reception_centre):
        raise CaseNotFound([returnee_id])
    return case


async def lock_open_case(cases: CaseRepository, returnee_id: UUID, actor: Actor) -> Case:
    """The case, locked and in reach (``lock_case_in_reach``), if it is open: a closed case is
    refused (case_closed, or case_merged naming the person's case)."""
    case = await lock_case_in_reach(cases, returnee_id, actor)
    case.check_is_open()
    return case
