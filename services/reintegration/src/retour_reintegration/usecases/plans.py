"""A case's reintegration plan: draft a revision, agree it with the returnee (published as
``reintegration.plan_agreed`` in the same transaction), move its items along.

Every write locks the case first (``CaseRepository.lock``): revisions of one case get their
numbers one at a time, and a plan cannot change while the case is being closed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol
from uuid import UUID, uuid4

from retour_contracts import PlanAgreed, ReferralUpdated
from retour_reintegration.domain.actor import Actor
from retour_reintegration.domain.plan import (
    ItemStatusSet,
    Plan,
    PlanItem,
    PlanRevision,
    StatusChange,
    agree,
    change_status,
    draft,
)
from retour_reintegration.domain.plan_commands import AgreePlan, ChangeItemStatus, DraftRevision
from retour_reintegration.usecases.case_in_reach import lock_open_case
from retour_reintegration.usecases.partners import PartnerRegistry
from retour_reintegration.usecases.ports import CaseRepository


class PlanRepository(Protocol):
    async def plan_of(self, returnee_id: UUID) -> Plan:
        """The case's latest revision and the latest agreed one (read after locking the case)."""
        ...

    async def add_revision(self, revision: PlanRevision) -> None: ...

    async def save_agreement(self, revision: PlanRevision) -> None: ...

    async def save_item_status(self, revisions: Sequence[PlanRevision], item_id: UUID) -> None:
        """Stores the item's status as each of ``revisions`` has it."""
        ...

    async def add_status_changes(self, changes: Sequence[StatusChange]) -> None: ...


class CaseEventOutbox(Protocol):
    async def emit(self, event: PlanAgreed | ReferralUpdated) -> None:
        """Queues ``event`` for publication when, and only if, the transaction commits."""
        ...


async def draft_revision(
    cases: CaseRepository,
    plans: PlanRepository,
    partners: PartnerRegistry,
    *,
    returnee_id: UUID,
    command: DraftRevision,
    actor: Actor,
    now: datetime,
    new_id: Callable[[], UUID] = uuid4,
) -> PlanRevision:
    case = await lock_open_case(cases, returnee_id, actor)
    plan = await plans.plan_of(returnee_id)
    named = sorted({item.partner_id for item in command.items if item.partner_id is not None})
    revision, changes = draft(
        plan,
        command.items,
        case=case,
        partners=await partners.many(named),
        at=now,
        by=actor.subject,
        new_id=new_id,
    )
    await plans.add_revision(revision)
    await plans.add_status_changes(changes)
    return revision


async def agree_plan(
    cases: CaseRepository,
    plans: PlanRepository,
    outbox: CaseEventOutbox,
    *,
    returnee_id: UUID,
    command: AgreePlan,
    actor: Actor,
    now: datetime,
) -> PlanRevision:
    case = await lock_open_case(cases, returnee_id, actor)
    plan = await plans.plan_of(returnee_id)
    agreed = agree(plan, command.revision, command.agreed_on, case=case, at=now, by=actor.subject)
    await plans.save_agreement(agreed)
    await outbox.emit(agreed.agreed_event())
    return agreed


async def set_item_status(
    cases: CaseRepository,
    plans: PlanRepository,
    *,
    returnee_id: UUID,
    item_id: UUID,
    command: ChangeItemStatus,
    actor: Actor,
    now: datetime,
) -> PlanItem:
    await lock_open_case(cases, returnee_id, actor)
    plan = await plans.plan_of(returnee_id)
    result: ItemStatusSet = change_status(plan, item_id, command.status, at=now, by=actor.subject)
    if result.change is not None:
        await plans.save_item_status(result.revisions, item_id)
        await plans.add_status_changes([result.change])
    return result.item
