"""Use cases with in-memory fakes of the repository and the outbox."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import pytest

from retour_contracts import ActivityLaunched, AidCategory, AidGranted, Level
from retour_contracts.examples import example_returnee_registered
from retour_reintegration.domain.actor import Actor
from retour_reintegration.domain.aid import ReintegrationBudget
from retour_reintegration.domain.case import Case, CaseStatus, ClosureReason
from retour_reintegration.domain.commands import CloseCase, GrantAid, LaunchActivity
from retour_reintegration.domain.errors import CaseClosed, CaseNotFound, RuleViolation
from retour_reintegration.usecases import (
    close_case,
    grant_aid,
    launch_activity,
    open_cases,
)

NOW = datetime(2024, 6, 12, 9, 0, tzinfo=UTC)
CASE_WORKER = Actor("agent.bamako.014")
SUPERVISOR = Actor("supervisor.bamako", may_exceed_budget=True)
BUDGET = ReintegrationBudget(limit=Decimal("1000000"))


class FakeCaseRepository:
    def __init__(self) -> None:
        self.cases: dict[UUID, Case] = {}
        self.aid: list[tuple[AidGranted, bool]] = []
        self.activities: list[tuple[ActivityLaunched, str]] = []

    async def add_many(self, cases: Sequence[Case]) -> int:
        new = [case for case in cases if case.returnee_id not in self.cases]
        self.cases.update((case.returnee_id, case) for case in new)
        return len(new)

    async def lock(self, returnee_id: UUID) -> Case | None:
        return self.cases.get(returnee_id)

    async def lock_shared(self, returnee_ids: Sequence[UUID]) -> dict[UUID, Case]:
        return {i: self.cases[i] for i in returnee_ids if i in self.cases}

    async def money_granted(
        self, returnee_id: UUID, categories: frozenset[AidCategory], currency: str
    ) -> Decimal:
        return sum(
            (
                aid.amount.amount
                for aid, _ in self.aid
                if aid.returnee_id == returnee_id
                and aid.category in categories
                and aid.amount is not None
                and aid.amount.currency == currency
            ),
            Decimal(0),
        )

    async def add_aid(self, aid: AidGranted, *, exceeded_budget: bool) -> None:
        self.aid.append((aid, exceeded_budget))

    async def aid_owners(self, aid_ids: Sequence[UUID]) -> dict[UUID, UUID]:
        return {aid.aid_id: aid.returnee_id for aid, _ in self.aid if aid.aid_id in aid_ids}

    async def add_activity(self, activity: ActivityLaunched, *, launched_by: str) -> None:
        self.activities.append((activity, launched_by))

    async def save_closure(self, case: Case) -> None:
        self.cases[case.returnee_id] = case


class FakeOutbox:
    def __init__(self) -> None:
        self.emitted: list[AidGranted | ActivityLaunched] = []

    async def emit(self, event: AidGranted | ActivityLaunched) -> None:
        self.emitted.append(event)


@pytest.fixture
def cases() -> FakeCaseRepository:
    return FakeCaseRepository()


@pytest.fixture
def outbox() -> FakeOutbox:
    return FakeOutbox()


async def an_open_case(cases: FakeCaseRepository, arrival: str = "2024-06-11") -> UUID:
    registration = example_returnee_registered(returnee_id=uuid4(), arrival_date=arrival)
    await open_cases(cases, [registration])
    return registration.returnee_id


def grant(**fields: Any) -> GrantAid:
    values: dict[str, Any] = {
        "phase": "reintegration",
        "category": "business_start_up_grant",
        "dimension": "economic",
        "amount": {"amount": "350000"},
    }
    return GrantAid.model_validate(values | fields)


class TestOpenCase:
    async def test_opens_one_case_per_returnee(self, cases: FakeCaseRepository) -> None:
        registration = example_returnee_registered(returnee_id=uuid4())

        assert await open_cases(cases, [registration]) == 1
        assert await open_cases(cases, [registration]) == 0
        assert list(cases.cases) == [registration.returnee_id]


class TestGrantAid:
    async def test_grants_and_emits_aid_granted(
        self, cases: FakeCaseRepository, outbox: FakeOutbox
    ) -> None:
        returnee_id = await an_open_case(cases)

        granted = await grant_aid(
            cases,
            outbox,
            returnee_id=returnee_id,
            command=grant(),
            actor=CASE_WORKER,
            budget=BUDGET,
            now=NOW,
        )

        assert outbox.emitted == [granted.aid]
        assert cases.aid == [(granted.aid, False)]
        assert granted.aid.granted_by == "agent.bamako.014"
        assert (granted.aid.granted_at, granted.aid.late) == (NOW, False)

    async def test_an_unknown_case_is_not_found(
        self, cases: FakeCaseRepository, outbox: FakeOutbox
    ) -> None:
        with pytest.raises(CaseNotFound):
            await grant_aid(
                cases,
                outbox,
                returnee_id=uuid4(),
                command=grant(),
                actor=CASE_WORKER,
                budget=BUDGET,
                now=NOW,
            )
        assert outbox.emitted == []

    async def test_a_closed_case_gets_no_aid(
        self, cases: FakeCaseRepository, outbox: FakeOutbox
    ) -> None:
        returnee_id = await an_open_case(cases)
        await close_case(
            cases,
            returnee_id=returnee_id,
            reason=ClosureReason.REMIGRATED,
            actor=CASE_WORKER,
            now=NOW,
        )

        with pytest.raises(CaseClosed):
            await grant_aid(
                cases,
                outbox,
                returnee_id=returnee_id,
                command=grant(),
                actor=CASE_WORKER,
                budget=BUDGET,
                now=NOW,
            )
        assert outbox.emitted == []

    async def test_late_immediate_care_is_granted_and_flagged(
        self, cases: FakeCaseRepository, outbox: FakeOutbox
    ) -> None:
        returnee_id = await an_open_case(cases, arrival="2024-06-08")
        lodging = grant(phase="immediate", category="lodging", dimension="social", amount=None)

        granted = await grant_aid(
            cases,
            outbox,
            returnee_id=returnee_id,
            command=lodging,
            actor=CASE_WORKER,
            budget=BUDGET,
            now=NOW,
        )

        assert granted.aid.late

    async def test_the_budget_counts_earlier_cash_and_grants(
        self, cases: FakeCaseRepository, outbox: FakeOutbox
    ) -> None:
        returnee_id = await an_open_case(cases)
        for amount in ("600000", "300000"):
            await grant_aid(
                cases,
                outbox,
                returnee_id=returnee_id,
                command=grant(amount={"amount": amount}),
                actor=CASE_WORKER,
                budget=BUDGET,
                now=NOW,
            )

        with pytest.raises(RuleViolation) as refused:
            await grant_aid(
                cases,
                outbox,
                returnee_id=returnee_id,
                command=grant(category="cash", amount={"amount": "100001"}),
                actor=CASE_WORKER,
                budget=BUDGET,
                now=NOW,
            )
        assert refused.value.rule == "budget_exceeded"
        assert refused.value.context["remaining_budget"]["amount"] == "100000"

        over = await grant_aid(
            cases,
            outbox,
            returnee_id=returnee_id,
            command=grant(category="cash", amount={"amount": "100001"}),
            actor=SUPERVISOR,
            budget=BUDGET,
            now=NOW,
        )
        assert over.exceeded_budget
        assert len(outbox.emitted) == 3

    async def test_aid_recorded_after_the_fact_keeps_its_date(
        self, cases: FakeCaseRepository, outbox: FakeOutbox
    ) -> None:
        returnee_id = await an_open_case(cases)
        yesterday = NOW - timedelta(days=1)

        granted = await grant_aid(
            cases,
            outbox,
            returnee_id=returnee_id,
            command=grant(granted_at=yesterday),
            actor=CASE_WORKER,
            budget=BUDGET,
            now=NOW,
        )

        assert granted.aid.granted_at == yesterday


class TestLaunchActivity:
    async def a_grant(self, cases: FakeCaseRepository, outbox: FakeOutbox, returnee: UUID) -> UUID:
        granted = await grant_aid(
            cases,
            outbox,
            returnee_id=returnee,
            command=grant(),
            actor=CASE_WORKER,
            budget=BUDGET,
            now=NOW,
        )
        return granted.aid.aid_id

    def collective(self, returnee_ids: list[UUID], aid_ids: list[UUID]) -> LaunchActivity:
        return LaunchActivity.model_validate(
            {
                "returnee_ids": returnee_ids,
                "sector": "agriculture",
                "location": {"region": "kayes"},
                "funding": {"amount": "700000"},
                "shares": [
                    {"returnee_id": returnee_ids[0], "amount": {"amount": "400000"}},
                    {"returnee_id": returnee_ids[1], "amount": {"amount": "300000"}},
                ],
                "aid_ids": aid_ids,
                "level": "collective",
            }
        )

    async def test_launches_a_collective_activity_with_shares(
        self, cases: FakeCaseRepository, outbox: FakeOutbox
    ) -> None:
        first, second = await an_open_case(cases), await an_open_case(cases)
        aid_ids = [
            await self.a_grant(cases, outbox, first),
            await self.a_grant(cases, outbox, second),
        ]

        activity = await launch_activity(
            cases,
            outbox,
            command=self.collective([first, second], aid_ids),
            actor=CASE_WORKER,
            now=NOW,
        )

        assert outbox.emitted[-1] == activity
        assert activity.level is Level.COLLECTIVE
        assert [share.returnee_id for share in activity.shares] == [first, second]
        assert cases.activities == [(activity, "agent.bamako.014")]

    async def test_every_participant_needs_a_case(
        self, cases: FakeCaseRepository, outbox: FakeOutbox
    ) -> None:
        first, stranger = await an_open_case(cases), uuid4()

        with pytest.raises(CaseNotFound) as refused:
            await launch_activity(
                cases,
                outbox,
                command=self.collective([first, stranger], []),
                actor=CASE_WORKER,
                now=NOW,
            )
        assert refused.value.context["returnee_ids"] == [str(stranger)]

    async def test_every_participant_needs_an_open_case(
        self, cases: FakeCaseRepository, outbox: FakeOutbox
    ) -> None:
        first, second = await an_open_case(cases), await an_open_case(cases)
        cases.cases[second] = replace(
            cases.cases[second], status=CaseStatus.CLOSED, closure_reason=ClosureReason.DECEASED
        )

        with pytest.raises(CaseClosed):
            await launch_activity(
                cases,
                outbox,
                command=self.collective([first, second], []),
                actor=CASE_WORKER,
                now=NOW,
            )
        assert cases.activities == []

    async def test_linked_aid_must_be_the_participants(
        self, cases: FakeCaseRepository, outbox: FakeOutbox
    ) -> None:
        first, second, other = [await an_open_case(cases) for _ in range(3)]
        others_aid = await self.a_grant(cases, outbox, other)

        with pytest.raises(RuleViolation) as refused:
            await launch_activity(
                cases,
                outbox,
                command=self.collective([first, second], [others_aid]),
                actor=CASE_WORKER,
                now=NOW,
            )
        assert refused.value.rule == "aid_not_granted_to_participants"


class TestCloseCase:
    async def test_closes_with_a_reason(self, cases: FakeCaseRepository) -> None:
        returnee_id = await an_open_case(cases)
        command = CloseCase(reason=ClosureReason.REINTEGRATION_COMPLETED)

        closed = await close_case(
            cases, returnee_id=returnee_id, reason=command.reason, actor=CASE_WORKER, now=NOW
        )

        assert cases.cases[returnee_id] == closed
        assert closed.closure_reason is ClosureReason.REINTEGRATION_COMPLETED

    async def test_an_unknown_case_is_not_found(self, cases: FakeCaseRepository) -> None:
        with pytest.raises(CaseNotFound):
            await close_case(
                cases,
                returnee_id=uuid4(),
                reason=ClosureReason.DECEASED,
                actor=CASE_WORKER,
                now=NOW,
            )


def test_arrival_is_counted_from_the_start_of_the_day() -> None:
    case = Case.open_for(example_returnee_registered(arrival_date="2024-06-11"))

    assert case.arrived_at == datetime(2024, 6, 11, tzinfo=UTC)
    assert case.arrival_date == date(2024, 6, 11)
