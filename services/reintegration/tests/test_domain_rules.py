"""The business rules of cases, aid and activities, as pure functions."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from uuid import UUID, uuid4

import pytest

from retour_contracts import AidCategory, AidPhase, Level, Money, Share
from retour_contracts.examples import example_returnee_registered
from retour_reintegration.domain.activity import check_linked_aid, check_participants, check_shares
from retour_reintegration.domain.aid import (
    ReintegrationBudget,
    check_amount,
    check_moment,
    is_late,
)
from retour_reintegration.domain.case import Case, CaseStatus, ClosureReason
from retour_reintegration.domain.errors import CaseClosed, RuleViolation

NOW = datetime(2024, 6, 20, 12, 0, tzinfo=UTC)
ANNA, BAKARY, CHEICK = UUID(int=1), UUID(int=2), UUID(int=3)


def a_case(arrival: date = date(2024, 6, 11)) -> Case:
    return Case.open_for(example_returnee_registered(arrival_date=arrival.isoformat()))


def xof(amount: str) -> Money:
    return Money(amount=Decimal(amount), currency="XOF")


def broken_rule(violation: pytest.ExceptionInfo[RuleViolation]) -> str:
    return violation.value.rule


class TestCase:
    def test_a_case_keeps_no_personal_data(self) -> None:
        registration = example_returnee_registered()
        case = Case.open_for(registration)

        assert case.returnee_id == registration.returnee_id
        assert case.status is CaseStatus.OPEN
        stored = " ".join(str(value) for value in vars(case).values())
        for personal in ("Aminata", "Diarra", "1997-03-14", "+22365012345"):
            assert personal not in stored

    def test_closing_records_reason_time_and_author(self) -> None:
        closed = a_case().close(ClosureReason.REMIGRATED, at=NOW, by="agent.kayes.2")

        assert (closed.status, closed.closure_reason) == (
            CaseStatus.CLOSED,
            ClosureReason.REMIGRATED,
        )
        assert (closed.closed_at, closed.closed_by) == (NOW, "agent.kayes.2")

    def test_a_closed_case_cannot_be_closed_again(self) -> None:
        closed = a_case().close(ClosureReason.DECEASED, at=NOW, by="agent")

        with pytest.raises(CaseClosed) as refused:
            closed.close(ClosureReason.REMIGRATED, at=NOW, by="agent")
        assert refused.value.rule == "case_closed"


class TestAidRules:
    @pytest.mark.parametrize("category", [AidCategory.CASH, AidCategory.BUSINESS_START_UP_GRANT])
    def test_money_categories_need_an_amount(self, category: AidCategory) -> None:
        with pytest.raises(RuleViolation) as refused:
            check_amount(category, None)
        assert broken_rule(refused) == "amount_required"

    def test_other_categories_need_no_amount(self) -> None:
        check_amount(AidCategory.LODGING, None)
        check_amount(AidCategory.IN_KIND_KIT, xof("25000"))

    def test_immediate_aid_after_72_hours_is_late(self) -> None:
        case = a_case(arrival=date(2024, 6, 11))
        arrived = datetime(2024, 6, 11, tzinfo=UTC)

        assert not is_late(AidPhase.IMMEDIATE, case, arrived + timedelta(hours=72))
        assert is_late(AidPhase.IMMEDIATE, case, arrived + timedelta(hours=72, minutes=1))
        assert not is_late(AidPhase.REINTEGRATION, case, arrived + timedelta(days=30))

    def test_aid_cannot_be_granted_in_the_future(self) -> None:
        with pytest.raises(RuleViolation) as refused:
            check_moment(NOW + timedelta(hours=1), a_case(), now=NOW, field="granted_at")
        assert broken_rule(refused) == "granted_at_in_future"

    def test_a_slightly_fast_clock_is_tolerated(self) -> None:
        check_moment(NOW + timedelta(minutes=2), a_case(), now=NOW, field="granted_at")

    def test_aid_cannot_predate_the_arrival(self) -> None:
        case = a_case(arrival=date(2024, 6, 11))
        with pytest.raises(RuleViolation) as refused:
            check_moment(datetime(2024, 6, 10, 23, tzinfo=UTC), case, now=NOW, field="granted_at")
        assert broken_rule(refused) == "granted_at_before_arrival"


class TestReintegrationBudget:
    budget = ReintegrationBudget(limit=Decimal("1000000"))

    def test_an_amount_within_the_remaining_budget_passes(self) -> None:
        exceeded = self.budget.check(xof("400000"), granted=Decimal("600000"), may_exceed=False)
        assert not exceeded

    def test_beyond_the_budget_is_refused_stating_what_remains(self) -> None:
        with pytest.raises(RuleViolation) as refused:
            self.budget.check(xof("400001"), granted=Decimal("600000"), may_exceed=False)

        assert broken_rule(refused) == "budget_exceeded"
        assert refused.value.context["remaining_budget"] == {"amount": "400000", "currency": "XOF"}
        assert "400000 XOF" in refused.value.detail

    def test_a_supervisor_may_exceed_it(self) -> None:
        assert self.budget.check(xof("500000"), granted=Decimal("900000"), may_exceed=True)

    def test_an_exhausted_budget_has_nothing_left(self) -> None:
        assert self.budget.remaining(Decimal("1200000")) == 0

    def test_the_budget_is_kept_in_one_currency(self) -> None:
        with pytest.raises(RuleViolation) as refused:
            self.budget.check(
                Money(amount=Decimal(10), currency="EUR"), granted=Decimal(0), may_exceed=True
            )
        assert broken_rule(refused) == "budget_currency"


class TestActivityRules:
    def test_an_individual_activity_has_one_participant(self) -> None:
        with pytest.raises(RuleViolation) as refused:
            check_participants(Level.INDIVIDUAL, [ANNA, BAKARY])
        assert broken_rule(refused) == "individual_activity_has_one_participant"

    def test_a_collective_activity_has_several_participants(self) -> None:
        with pytest.raises(RuleViolation) as refused:
            check_participants(Level.COLLECTIVE, [ANNA])
        assert broken_rule(refused) == "collective_activity_has_several_participants"

    def test_linked_aid_must_belong_to_a_participant(self) -> None:
        own, foreign, unknown = uuid4(), uuid4(), uuid4()
        owners = {own: ANNA, foreign: CHEICK}

        check_linked_aid([own], owners, [ANNA, BAKARY])
        with pytest.raises(RuleViolation) as refused:
            check_linked_aid([own, foreign, unknown], owners, [ANNA, BAKARY])
        assert broken_rule(refused) == "aid_not_granted_to_participants"
        assert refused.value.context["aid_ids"] == [str(foreign), str(unknown)]

    def test_a_funded_collective_activity_records_every_share(self) -> None:
        with pytest.raises(RuleViolation) as refused:
            check_shares(Level.COLLECTIVE, [ANNA, BAKARY], xof("500000"), [])
        assert broken_rule(refused) == "shares_required"

    def test_shares_that_add_up_pass(self) -> None:
        shares = [
            Share(returnee_id=ANNA, amount=xof("300000")),
            Share(returnee_id=BAKARY, amount=xof("200000")),
        ]
        check_shares(Level.COLLECTIVE, [ANNA, BAKARY], xof("500000"), shares)

    def test_shares_must_add_up_to_the_funding(self) -> None:
        shares = [
            Share(returnee_id=ANNA, amount=xof("300000")),
            Share(returnee_id=BAKARY, amount=xof("100000")),
        ]
        with pytest.raises(RuleViolation) as refused:
            check_shares(Level.COLLECTIVE, [ANNA, BAKARY], xof("500000"), shares)
        assert broken_rule(refused) == "shares_add_up_to_funding"

    def test_each_participant_has_exactly_one_share(self) -> None:
        shares = [
            Share(returnee_id=ANNA, amount=xof("250000")),
            Share(returnee_id=CHEICK, amount=xof("250000")),
        ]
        with pytest.raises(RuleViolation) as refused:
            check_shares(Level.COLLECTIVE, [ANNA, BAKARY], xof("500000"), shares)
        assert broken_rule(refused) == "one_share_per_participant"

    def test_shares_are_in_the_funding_currency(self) -> None:
        euros = Money(amount=Decimal(250000), currency="EUR")
        shares = [
            Share(returnee_id=ANNA, amount=xof("250000")),
            Share(returnee_id=BAKARY, amount=euros),
        ]
        with pytest.raises(RuleViolation) as refused:
            check_shares(Level.COLLECTIVE, [ANNA, BAKARY], xof("500000"), shares)
        assert broken_rule(refused) == "share_currency"

    def test_shares_need_a_funding(self) -> None:
        shares = [Share(returnee_id=ANNA, amount=xof("1"))]
        with pytest.raises(RuleViolation) as refused:
            check_shares(Level.INDIVIDUAL, [ANNA], None, shares)
        assert broken_rule(refused) == "shares_without_funding"

    def test_an_unfunded_or_individual_activity_needs_no_shares(self) -> None:
        check_shares(Level.COLLECTIVE, [ANNA, BAKARY], None, [])
        check_shares(Level.INDIVIDUAL, [ANNA], xof("350000"), [])
