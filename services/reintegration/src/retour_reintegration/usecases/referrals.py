"""Referrals of agreed plan items to partners, and the partners' answers; every change is
published as ``referral.updated`` in the same transaction."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol
from uuid import UUID, uuid4

from retour_contracts import ReferralStatus
from retour_reintegration.domain.actor import Actor
from retour_reintegration.domain.errors import CaseNotFound, NotFound
from retour_reintegration.domain.referral import Referral, referable_item, send
from retour_reintegration.domain.referral_commands import ChangeReferralStatus, SendReferral
from retour_reintegration.usecases.case_in_reach import lock_case_in_reach, lock_open_case
from retour_reintegration.usecases.partners import PartnerRegistry
from retour_reintegration.usecases.plans import CaseEventOutbox, PlanRepository
from retour_reintegration.usecases.ports import CaseRepository


class ReferralRepository(Protocol):
    async def open_of_item(self, returnee_id: UUID, plan_item_id: UUID) -> UUID | None:
        """The referral of the item still open (sent or accepted), if there is one."""
        ...

    async def add(self, referral: Referral) -> None: ...

    async def case_of(self, referral_id: UUID) -> UUID | None:
        """The returnee whose case the referral belongs to."""
        ...

    async def lock(self, referral_id: UUID) -> Referral | None:
        """The referral, locked, with its partner's name as it is now."""
        ...

    async def save_status(self, referral: Referral) -> None:
        """Stores the referral's new status and keeps it in its history."""
        ...


def referral_not_found(referral_id: UUID) -> NotFound:
    return NotFound(
        "referral_not_found", f"no referral {referral_id}", referral_id=str(referral_id)
    )


async def send_referral(
    cases: CaseRepository,
    plans: PlanRepository,
    partners: PartnerRegistry,
    referrals: ReferralRepository,
    outbox: CaseEventOutbox,
    *,
    returnee_id: UUID,
    command: SendReferral,
    actor: Actor,
    now: datetime,
    new_id: Callable[[], UUID] = uuid4,
) -> Referral:
    # The case lock also makes two referrals of one item take turns: the second sees the first.
    case = await lock_open_case(cases, returnee_id, actor)
    plan = await plans.plan_of(returnee_id)
    item = referable_item(plan, command.plan_item_id)
    partner_id = item.partner_id
    assert partner_id is not None  # referable_item checked it
    referral = send(
        plan,
        command.plan_item_id,
        case=case,
        partner=(await partners.many([partner_id])).get(partner_id),
        open_referral=await referrals.open_of_item(returnee_id, item.item_id),
        referral_id=new_id(),
        at=now,
        by=actor.subject,
    )
    await referrals.add(referral)
    await outbox.emit(referral.event())
    return referral


async def change_referral_status(
    cases: CaseRepository,
    referrals: ReferralRepository,
    outbox: CaseEventOutbox,
    *,
    referral_id: UUID,
    command: ChangeReferralStatus,
    actor: Actor,
    now: datetime,
) -> Referral:
    """Records the partner's answer or delivery. The case may have been closed since: what
    the partner did is still recorded (a completed referral counts in reports)."""
    returnee_id = await referrals.case_of(referral_id)
    if returnee_id is None:
        raise referral_not_found(referral_id)
    try:
        # Case first, then referral: the order every write of a case's records locks in.
        await lock_case_in_reach(cases, returnee_id, actor)
    except CaseNotFound:
        # The request names a referral: another centre's is not found, like a missing one.
        raise referral_not_found(referral_id) from None
    referral = await referrals.lock(referral_id)
    if referral is None:
        raise referral_not_found(referral_id)
    moved = referral.moved_to(ReferralStatus(command.status), at=now, by=actor.subject)
    await referrals.save_status(moved)
    await outbox.emit(moved.event())
    return moved
