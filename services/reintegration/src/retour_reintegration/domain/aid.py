"""Rules for granting aid: amounts, the 72-hour target, the reintegration budget."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from retour_contracts import AidCategory, AidPhase, Money
from retour_reintegration.domain.case import Case
from retour_reintegration.domain.errors import RuleViolation

MONEY_CATEGORIES = frozenset({AidCategory.CASH, AidCategory.BUSINESS_START_UP_GRANT})
"""Aid that is money handed over: it needs an amount, and it draws on the budget whatever its
phase (labelling a grant "immediate" must not get round the budget)."""

IMMEDIATE_CARE_WINDOW = timedelta(hours=72)

CLOCK_SKEW = timedelta(minutes=5)
"""A device clock slightly ahead is not a grant "in the future"."""


def check_amount(category: AidCategory, amount: Money | None) -> None:
    if category in MONEY_CATEGORIES and amount is None:
        raise RuleViolation(
            "amount_required", f"{category} aid needs an amount above zero", field="amount"
        )


def check_moment(moment: datetime, case: Case, *, now: datetime, field: str) -> None:
    """Aid and activities are recorded after the fact, but not before arrival nor ahead."""
    if moment > now + CLOCK_SKEW:
        raise RuleViolation(f"{field}_in_future", f"{field} is in the future", field=field)
    if moment < case.arrived_at:
        raise RuleViolation(
            f"{field}_before_arrival",
            f"{field} is before the arrival of returnee {case.returnee_id}",
            field=field,
        )


def is_late(phase: AidPhase, case: Case, granted_at: datetime) -> bool:
    """Immediate care is due within 72 hours of arrival; later care is given but flagged."""
    return phase is AidPhase.IMMEDIATE and granted_at - case.arrived_at > IMMEDIATE_CARE_WINDOW


@dataclass(frozen=True)
class ReintegrationBudget:
    """What one returnee may receive in cash and business start-up grants."""

    limit: Decimal
    currency: str = "XOF"

    def remaining(self, granted: Decimal) -> Decimal:
        return max(Decimal(0), self.limit - granted)

    def check(self, amount: Money, *, granted: Decimal, may_exceed: bool) -> bool:
        """Whether ``amount`` exceeds the budget (allowed only with ``may_exceed``)."""
        if amount.currency != self.currency:
            raise RuleViolation(
                "budget_currency",
                f"the reintegration budget is kept in {self.currency}, not {amount.currency}",
                field="amount.currency",
            )
        remaining = self.remaining(granted)
        if amount.amount <= remaining:
            return False
        if may_exceed:
            return True
        shown = _plain(remaining)
        raise RuleViolation(
            "budget_exceeded",
            f"the remaining reintegration budget of this returnee is {shown} {self.currency};"
            " only a supervisor or an admin may exceed it",
            remaining_budget={"amount": shown, "currency": self.currency},
        )


def _plain(amount: Decimal) -> str:
    return format(amount.normalize(), "f") if amount else "0"
