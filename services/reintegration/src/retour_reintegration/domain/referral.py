"""Referrals: a plan item provided by a partner organisation, sent to it, then accepted or
declined by the partner, and completed once it delivered.

A referral is made only from an item of the plan in force (agreed with the returnee), so what
a partner is asked to do is what the returnee agreed to. One referral of an item is open at a
time (sent or accepted); after a decline the item can be referred again (to the same partner,
or to another once a revision names it).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from retour_contracts import AidCategory, Dimension, Provider, ReferralStatus, ReferralUpdated
from retour_reintegration.domain.case import Case
from retour_reintegration.domain.errors import Conflict, RuleViolation
from retour_reintegration.domain.partner import Partner
from retour_reintegration.domain.plan import Plan, PlanItem, check_partner_for

NEXT_STATUSES: Mapping[ReferralStatus, frozenset[ReferralStatus]] = {
    ReferralStatus.SENT: frozenset({ReferralStatus.ACCEPTED, ReferralStatus.DECLINED}),
    ReferralStatus.ACCEPTED: frozenset({ReferralStatus.COMPLETED}),
    ReferralStatus.DECLINED: frozenset(),
    ReferralStatus.COMPLETED: frozenset(),
}
OPEN_STATUSES = frozenset({ReferralStatus.SENT, ReferralStatus.ACCEPTED})
"""A referral the partner still has in hand: the item cannot be referred again meanwhile."""


class Referral(BaseModel):
    model_config = ConfigDict(frozen=True)

    referral_id: UUID
    returnee_id: UUID
    plan_item_id: UUID
    revision: int
    """The agreed revision the item was referred from."""
    partner_id: UUID
    partner_name: str
    dimension: Dimension
    category: AidCategory
    status: ReferralStatus
    sent_at: datetime
    sent_by: str
    status_at: datetime
    status_by: str

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def moved_to(self, status: ReferralStatus, *, at: datetime, by: str) -> Referral:
        if status not in NEXT_STATUSES[self.status]:
            raise Conflict(
                "referral_transition",
                f"referral {self.referral_id} is {self.status}: it cannot become {status}",
                referral_id=str(self.referral_id),
                current_status=str(self.status),
            )
        return self.model_copy(update={"status": status, "status_at": at, "status_by": by})

    def event(self) -> ReferralUpdated:
        return ReferralUpdated(
            referral_id=self.referral_id,
            returnee_id=self.returnee_id,
            plan_item_id=self.plan_item_id,
            partner_id=self.partner_id,
            partner_name=self.partner_name,
            dimension=self.dimension,
            status=self.status,
            sent_at=self.sent_at,
            status_at=self.status_at,
            updated_by=self.status_by,
        )


FIELD = "body.plan_item_id"


def referable_item(plan: Plan, plan_item_id: UUID) -> PlanItem:
    """The item of the plan in force that ``plan_item_id`` names, provided by a partner."""
    in_force = plan.in_force
    if in_force is None:
        raise RuleViolation(
            "plan_not_agreed", f"{FIELD}: the case has no agreed plan to refer from", field=FIELD
        )
    item = in_force.item(plan_item_id)
    if item is None:
        raise RuleViolation(
            "plan_item_not_agreed",
            f"{FIELD}: no item {plan_item_id} in the agreed plan (revision {in_force.revision})",
            field=FIELD,
        )
    if item.provider is not Provider.PARTNER or item.partner_id is None:
        raise RuleViolation(
            "plan_item_not_partner", f"{FIELD}: retour itself provides this item", field=FIELD
        )
    return item


def send(
    plan: Plan,
    plan_item_id: UUID,
    *,
    case: Case,
    partner: Partner | None,
    open_referral: UUID | None,
    referral_id: UUID,
    at: datetime,
    by: str,
) -> Referral:
    """A referral of the item to its partner (``partner``: the one the item names), unless
    one of the item is open (``open_referral``)."""
    item = referable_item(plan, plan_item_id)
    assert item.partner_id is not None  # referable_item checked it
    checked = check_partner_for(partner, item.partner_id, case, item.category, field=FIELD)
    if open_referral is not None:
        raise Conflict(
            "referral_open",
            f"referral {open_referral} of this item is still open: record the partner's answer"
            " first",
            field=FIELD,
            referral_id=str(open_referral),
        )
    assert plan.in_force is not None  # referable_item checked it
    return Referral(
        referral_id=referral_id,
        returnee_id=case.returnee_id,
        plan_item_id=item.item_id,
        revision=plan.in_force.revision,
        partner_id=checked.partner_id,
        partner_name=checked.name,
        dimension=item.dimension,
        category=item.category,
        status=ReferralStatus.SENT,
        sent_at=at,
        sent_by=by,
        status_at=at,
        status_by=by,
    )
