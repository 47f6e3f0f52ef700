from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID, uuid4

from retour_contracts import AidGranted
from retour_reintegration.domain.actor import Actor
from retour_reintegration.domain.aid import (
    MONEY_CATEGORIES,
    ReintegrationBudget,
    check_amount,
    check_moment,
    is_late,
)
from retour_reintegration.domain.commands import GrantAid
from retour_reintegration.usecases.case_in_reach import lock_open_case
from retour_reintegration.usecases.ports import CaseRepository, EventOutbox


@dataclass(frozen=True)
class GrantedAid:
    aid: AidGranted
    exceeded_budget: bool


async def grant_aid(
    cases: CaseRepository,
    outbox: EventOutbox,
    *,
    returnee_id: UUID,
    command: GrantAid,
    actor: Actor,
    budget: ReintegrationBudget,
    now: datetime,
    new_id: Callable[[], UUID] = uuid4,
) -> GrantedAid:
    # The lock makes concurrent grants to one returnee take turns, so two of them cannot both
    # fit in the same remaining budget.
    case = await lock_open_case(cases, returnee_id, actor)
    granted_at = command.granted_at or now
    check_moment(granted_at, case, now=now, field="granted_at")
    check_amount(command.category, command.amount)
    exceeded = False
    if command.category in MONEY_CATEGORIES and command.amount is not None:
        granted = await cases.money_granted(returnee_id, MONEY_CATEGORIES, budget.currency)
        exceeded = budget.check(command.amount, granted=granted, may_exceed=actor.may_exceed_budget)
    aid = AidGranted(
        aid_id=new_id(),
        returnee_id=returnee_id,
        granted_at=granted_at,
        phase=command.phase,
        category=command.category,
        dimension=command.dimension,
        level=command.level,
        modality=command.modality,
        partner=command.partner,
        amount=command.amount,
        granted_by=actor.subject,
        late=is_late(command.phase, case, granted_at),
    )
    await cases.add_aid(aid, exceeded_budget=exceeded)
    await outbox.emit(aid)
    return GrantedAid(aid=aid, exceeded_budget=exceeded)
