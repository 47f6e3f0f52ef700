"""The rules of partners, plans and referrals, as pure functions: who a partner serves and who
may manage it, how revisions carry items over and are agreed, how an item's status moves, the
month-after-arrival KPI, and a referral's life."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from itertools import count
from typing import Any
from uuid import UUID

import pytest

from retour_contracts import (
    PLAN_AGREED_V1,
    REFERRAL_UPDATED_V1,
    AidCategory,
    Dimension,
    MaliRegion,
    PlanItemStatus,
    Provider,
    ReceptionCentre,
    ReferralStatus,
)
from retour_contracts.examples import example_returnee_registered
from retour_reintegration.domain.case import Case
from retour_reintegration.domain.errors import Conflict, NotAllowed, NotFound, RuleViolation
from retour_reintegration.domain.partner import (
    DIMENSIONS_OF_SERVICE,
    Partner,
    check_may_manage,
    served_centres,
)
from retour_reintegration.domain.plan import (
    PLAN_TARGET_DAYS,
    Plan,
    PlanRevision,
    agree,
    agreed_within_target,
    change_status,
    days_to_agreement,
    draft,
)
from retour_reintegration.domain.plan_commands import ItemEntered
from retour_reintegration.domain.referral import Referral, send
from retour_reintegration.entrypoints.rule_violations import status_of

NOW = datetime(2024, 7, 10, 9, 0, tzinfo=UTC)
ARRIVAL = date(2024, 6, 20)
TRAINING_CENTRE = UUID(int=0x7A)
GAO, BAMAKO = ReceptionCentre.GAO, ReceptionCentre.BAMAKO


def a_case(centre: ReceptionCentre = GAO) -> Case:
    return Case.open_for(
        example_returnee_registered(
            arrival_date=ARRIVAL.isoformat(), registered_at=NOW, reception_centre=centre
        )
    )


TRAINING_PARTNER = Partner(
    partner_id=TRAINING_CENTRE,
    name="Centre de formation de Gao",
    centres=frozenset({GAO}),
    regions=frozenset(),
    services=frozenset({AidCategory.VOCATIONAL_TRAINING}),
)


def a_partner(**changes: Any) -> Partner:
    return replace(TRAINING_PARTNER, **changes)


def ids() -> Callable[[], UUID]:
    """Item ids in order: 1, 2, ..."""
    numbers = count(1)
    return lambda: UUID(int=next(numbers))


TRAINING = ItemEntered(
    dimension=Dimension.ECONOMIC,
    category=AidCategory.VOCATIONAL_TRAINING,
    provider=Provider.PARTNER,
    partner_id=TRAINING_CENTRE,
    target_date=ARRIVAL + timedelta(days=60),
)
COUNSELLING = ItemEntered(
    dimension=Dimension.PSYCHOSOCIAL,
    category=AidCategory.PSYCHOSOCIAL,
    provider=Provider.RETOUR,
    target_date=ARRIVAL + timedelta(days=30),
)


def drafted(
    plan: Plan | None = None,
    items: tuple[ItemEntered, ...] = (TRAINING, COUNSELLING),
    partner: Partner | None = None,
    case: Case | None = None,
) -> PlanRevision:
    known = {TRAINING_CENTRE: partner or a_partner()}
    revision, _ = draft(
        plan or Plan(),
        items,
        case=case or a_case(),
        partners=known,
        at=NOW,
        by="agent.gao",
        new_id=ids(),
    )
    return revision


def agreed_plan() -> Plan:
    first = drafted()
    agreed = agree(Plan(latest=first), 1, NOW.date(), case=a_case(), at=NOW, by="agent.gao")
    return Plan(latest=agreed, in_force=agreed)


def in_force(plan: Plan) -> PlanRevision:
    assert plan.in_force is not None
    return plan.in_force


def refusal(violation: pytest.ExceptionInfo[RuleViolation]) -> tuple[int, str, object]:
    found = violation.value
    return status_of(found), found.rule, found.context.get("field")


class TestPartners:
    def test_a_partner_serves_the_centres_of_the_regions_it_names(self) -> None:
        partner = a_partner(centres=frozenset(), regions=frozenset({MaliRegion.GAO}))

        assert partner.served_centres == {GAO}
        assert served_centres(frozenset({BAMAKO}), frozenset({MaliRegion.SIKASSO})) == {BAMAKO}

    def test_its_services_give_its_dimensions(self) -> None:
        partner = a_partner(services=frozenset({AidCategory.MEDICAL, AidCategory.CASH}))

        assert partner.dimensions == {Dimension.SOCIAL, Dimension.PSYCHOSOCIAL, Dimension.ECONOMIC}

    def test_every_service_belongs_to_a_dimension(self) -> None:
        assert set(DIMENSIONS_OF_SERVICE) == set(AidCategory)
        assert all(DIMENSIONS_OF_SERVICE.values())

    def test_a_supervisor_of_some_centres_manages_only_partners_serving_no_other(self) -> None:
        mine = frozenset({GAO})

        check_may_manage(mine, frozenset({GAO}), frozenset({MaliRegion.GAO, MaliRegion.KIDAL}))
        check_may_manage(None, frozenset({BAMAKO}), frozenset({MaliRegion.KAYES}))
        with pytest.raises(NotAllowed) as centres:
            check_may_manage(mine, frozenset({GAO, BAMAKO}), frozenset())
        with pytest.raises(NotAllowed) as regions:
            check_may_manage(mine, frozenset({GAO}), frozenset({MaliRegion.KAYES}))

        assert refusal(centres) == (403, "outside_your_centres", "body.centres")
        assert refusal(regions) == (403, "outside_your_centres", "body.regions")


class TestDraftingRevisions:
    def test_the_first_revision_makes_its_items_ids(self) -> None:
        revision = drafted()

        assert revision.revision == 1 and revision.agreement is None
        assert [item.item_id for item in revision.items] == [UUID(int=1), UUID(int=2)]
        assert [item.status for item in revision.items] == [PlanItemStatus.PLANNED] * 2

    def test_a_later_revision_keeps_the_ids_of_the_items_carried_over(self) -> None:
        first = drafted()
        training = first.items[0]
        carried = TRAINING.model_copy(
            update={"item_id": training.item_id, "status": PlanItemStatus.IN_PROGRESS}
        )

        second, changes = draft(
            Plan(latest=first),
            [carried, COUNSELLING],
            case=a_case(),
            partners={TRAINING_CENTRE: a_partner()},
            at=NOW,
            by="agent.gao",
            new_id=lambda: UUID(int=99),
        )

        assert second.revision == 2
        assert [item.item_id for item in second.items] == [training.item_id, UUID(int=99)]
        (change,) = changes
        assert (change.item_id, change.revision) == (training.item_id, 2)
        assert (change.from_status, change.to_status) == ("planned", "in_progress")

    @pytest.mark.parametrize(
        ("changes", "rule", "field"),
        [
            ({"item_id": UUID(int=404)}, "plan_item_unknown", "body.items.1.item_id"),
            ({"partner_id": None}, "partner_required", "body.items.1.partner_id"),
            ({"provider": Provider.RETOUR}, "partner_not_expected", "body.items.1.partner_id"),
            ({"partner_id": UUID(int=1)}, "partner_unknown", "body.items.1.partner_id"),
            (
                {"dimension": Dimension.SOCIAL},
                "category_outside_dimension",
                "body.items.1.category",
            ),
            (
                {"target_date": ARRIVAL - timedelta(days=1)},
                "target_date_before_arrival",
                "body.items.1.target_date",
            ),
        ],
    )
    def test_an_item_in_error_is_named(
        self, changes: dict[str, object], rule: str, field: str
    ) -> None:
        with pytest.raises(RuleViolation) as refused:
            drafted(items=(COUNSELLING, TRAINING.model_copy(update=changes)))

        assert refusal(refused) == (422, rule, field)

    @pytest.mark.parametrize(
        ("partner", "rule"),
        [
            (a_partner(active=False), "partner_inactive"),
            (a_partner(centres=frozenset({BAMAKO})), "partner_outside_centre"),
            (a_partner(services=frozenset({AidCategory.MEDICAL})), "partner_does_not_offer"),
        ],
    )
    def test_the_partner_must_be_able_to_take_the_returnee(
        self, partner: Partner, rule: str
    ) -> None:
        with pytest.raises(RuleViolation) as refused:
            drafted(partner=partner)

        assert refusal(refused) == (422, rule, "body.items.0.partner_id")

    def test_an_item_is_carried_over_once(self) -> None:
        first = drafted()
        again = TRAINING.model_copy(update={"item_id": first.items[0].item_id})

        with pytest.raises(RuleViolation) as refused:
            drafted(plan=Plan(latest=first), items=(again, again))

        assert refusal(refused) == (422, "plan_item_repeated", "body.items.1.item_id")


class TestAgreeing:
    def test_the_latest_draft_is_agreed_by_whom_and_when(self) -> None:
        plan = Plan(latest=drafted())

        agreed = agree(plan, 1, date(2024, 7, 8), case=a_case(), at=NOW, by="agent.gao")

        assert agreed.agreement is not None
        assert (agreed.agreement.agreed_on, agreed.agreement.agreed_by) == (
            date(2024, 7, 8),
            "agent.gao",
        )
        event = agreed.agreed_event()
        PLAN_AGREED_V1.model.model_validate(event.model_dump(mode="json"))
        assert (event.revision, event.recorded_at) == (1, NOW)
        assert [i.item_id for i in event.items] == [i.item_id for i in agreed.items]

    def test_an_agreed_revision_is_not_agreed_again(self) -> None:
        with pytest.raises(Conflict) as refused:
            agree(agreed_plan(), 1, NOW.date(), case=a_case(), at=NOW, by="agent.gao")

        assert refusal(refused) == (409, "plan_revision_agreed", "body.revision")

    def test_a_replaced_revision_is_not_agreed(self) -> None:
        in_force = agreed_plan()
        second = drafted(plan=in_force)
        plan = Plan(latest=second, in_force=in_force.in_force)

        with pytest.raises(Conflict) as refused:
            agree(plan, 1, NOW.date(), case=a_case(), at=NOW, by="agent.gao")
        with pytest.raises(RuleViolation) as unknown:
            agree(plan, 3, NOW.date(), case=a_case(), at=NOW, by="agent.gao")

        assert refusal(refused) == (409, "plan_revision_outdated", "body.revision")
        assert refused.value.context["current_revision"] == 2
        assert refusal(unknown) == (422, "plan_revision_unknown", "body.revision")

    @pytest.mark.parametrize(
        ("agreed_on", "rule"),
        [
            (NOW.date() + timedelta(days=1), "agreed_on_in_future"),
            (ARRIVAL - timedelta(days=1), "agreed_on_before_arrival"),
        ],
    )
    def test_the_day_of_agreement_is_plausible(self, agreed_on: date, rule: str) -> None:
        with pytest.raises(RuleViolation) as refused:
            agree(Plan(latest=drafted()), 1, agreed_on, case=a_case(), at=NOW, by="agent.gao")

        assert refusal(refused) == (422, rule, "body.agreed_on")

    def test_a_revision_is_not_agreed_before_the_plan_it_replaces(self) -> None:
        agreed = agreed_plan()
        plan = Plan(latest=drafted(plan=agreed), in_force=agreed.in_force)
        earlier = NOW.date() - timedelta(days=1)

        with pytest.raises(RuleViolation) as refused:
            agree(plan, 2, earlier, case=a_case(), at=NOW, by="agent.gao")

        assert refusal(refused) == (422, "agreed_on_before_previous_agreement", "body.agreed_on")


class TestItemStatus:
    def test_a_status_change_is_kept_with_who_when_from_and_to(self) -> None:
        plan = agreed_plan()
        item_id = in_force(plan).items[0].item_id

        done = change_status(plan, item_id, PlanItemStatus.IN_PROGRESS, at=NOW, by="agent.2")

        assert done.item.status is PlanItemStatus.IN_PROGRESS
        assert [r.revision for r in done.revisions] == [1]
        assert done.change is not None
        assert (done.change.from_status, done.change.to_status) == ("planned", "in_progress")
        assert (done.change.changed_by, done.change.changed_at) == ("agent.2", NOW)

    def test_the_plan_in_force_and_its_draft_both_follow_the_item(self) -> None:
        agreed = agreed_plan()
        item = in_force(agreed).items[0]
        carried = TRAINING.model_copy(update={"item_id": item.item_id})
        plan = Plan(latest=drafted(plan=agreed, items=(carried,)), in_force=agreed.in_force)

        done = change_status(plan, item.item_id, PlanItemStatus.DONE, at=NOW, by="agent.gao")

        assert [r.revision for r in done.revisions] == [1, 2]
        assert [r.item(item.item_id) for r in done.revisions] == [done.item, done.item]
        assert done.change is not None and done.change.revision == 2

    def test_the_same_status_again_records_nothing(self) -> None:
        plan = agreed_plan()
        item_id = in_force(plan).items[0].item_id

        same = change_status(plan, item_id, PlanItemStatus.PLANNED, at=NOW, by="agent.gao")

        assert (same.revisions, same.change) == ([], None)

    def test_an_item_of_no_live_revision_is_not_found(self) -> None:
        with pytest.raises(NotFound) as refused:
            change_status(agreed_plan(), UUID(int=404), PlanItemStatus.DONE, at=NOW, by="a")

        assert refusal(refused)[:2] == (404, "plan_item_not_found")


class TestTheMonthAfterArrival:
    def test_the_target_is_the_handbooks_month(self) -> None:
        assert PLAN_TARGET_DAYS == 30

    @pytest.mark.parametrize(
        ("agreed_on", "days", "within"),
        [
            (ARRIVAL + timedelta(days=12), 12, True),
            (ARRIVAL + timedelta(days=30), 30, True),
            (ARRIVAL + timedelta(days=31), 31, False),
            (None, None, None),
        ],
    )
    def test_days_to_agreement(
        self, agreed_on: date | None, days: int | None, within: bool | None
    ) -> None:
        assert days_to_agreement(ARRIVAL, agreed_on) == days
        assert agreed_within_target(days_to_agreement(ARRIVAL, agreed_on)) is within


class TestReferrals:
    def referral(
        self, plan: Plan | None = None, item: int = 0, open_referral: UUID | None = None
    ) -> Referral:
        plan = plan or agreed_plan()
        chosen = (plan.in_force or plan.latest or drafted()).items[item].item_id
        return send(
            plan,
            chosen,
            case=a_case(),
            partner=a_partner(),
            open_referral=open_referral,
            referral_id=UUID(int=0xEF),
            at=NOW,
            by="agent.gao",
        )

    def test_a_referral_is_sent_to_the_partner_of_an_agreed_item(self) -> None:
        referral = self.referral()

        assert (referral.status, referral.partner_name, referral.revision) == (
            ReferralStatus.SENT,
            "Centre de formation de Gao",
            1,
        )
        REFERRAL_UPDATED_V1.model.model_validate(referral.event().model_dump(mode="json"))

    def test_only_from_a_partner_item_of_the_agreed_plan(self) -> None:
        with pytest.raises(RuleViolation) as by_retour:
            self.referral(item=1)
        with pytest.raises(RuleViolation) as not_agreed:
            self.referral(plan=Plan(latest=drafted()))

        assert refusal(by_retour) == (422, "plan_item_not_partner", "body.plan_item_id")
        assert refusal(not_agreed) == (422, "plan_not_agreed", "body.plan_item_id")

    def test_one_open_referral_per_item(self) -> None:
        with pytest.raises(Conflict) as refused:
            self.referral(open_referral=UUID(int=0xAB))

        assert refusal(refused) == (409, "referral_open", "body.plan_item_id")
        assert refused.value.context["referral_id"] == str(UUID(int=0xAB))

    @pytest.mark.parametrize("path", [["accepted"], ["declined"], ["accepted", "completed"]])
    def test_the_partners_answer_then_its_delivery(self, path: list[str]) -> None:
        referral = self.referral()
        for status in path:
            referral = referral.moved_to(ReferralStatus(status), at=NOW, by="agent.2")

        assert (referral.status, referral.status_by, referral.sent_by) == (
            path[-1],
            "agent.2",
            "agent.gao",
        )

    @pytest.mark.parametrize(
        ("path", "refused"),
        [
            ([], "completed"),
            (["declined"], "accepted"),
            (["accepted"], "declined"),
            (["accepted", "completed"], "accepted"),
        ],
    )
    def test_no_other_transition(self, path: list[str], refused: str) -> None:
        referral = self.referral()
        for status in path:
            referral = referral.moved_to(ReferralStatus(status), at=NOW, by="agent.2")

        with pytest.raises(Conflict) as conflict:
            referral.moved_to(ReferralStatus(refused), at=NOW, by="agent.2")

        assert refusal(conflict)[:2] == (409, "referral_transition")
        assert conflict.value.context["current_status"] == referral.status
