"""Use cases with in-memory fakes of the repository and the outbox."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import permutations
from typing import Any
from uuid import UUID, uuid4

import pytest

from retour_contracts import (
    ActivityLaunched,
    AidCategory,
    AidGranted,
    CaseEvent,
    ChangeReason,
    Level,
    ReceptionCentre,
    RegistrationFacts,
)
from retour_contracts import CaseClosed as CaseClosedEvent
from retour_contracts.examples import example_returnee_registered
from retour_reintegration.domain.actor import Actor
from retour_reintegration.domain.aid import ReintegrationBudget
from retour_reintegration.domain.assignment import Assignment
from retour_reintegration.domain.case import Case, CaseStatus, ClosureReason
from retour_reintegration.domain.closure import Reopening
from retour_reintegration.domain.commands import CloseCase, GrantAid, LaunchActivity
from retour_reintegration.domain.corrections import Correction
from retour_reintegration.domain.errors import (
    CaseClosed,
    CaseMerged,
    CaseNotFound,
    RuleViolation,
)
from retour_reintegration.domain.merges import Merge
from retour_reintegration.usecases import (
    apply_corrections,
    apply_merges,
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
        self.corrections: dict[tuple[UUID, int], Correction] = {}
        self.merges: dict[UUID, Merge] = {}
        self.reopenings: list[Reopening] = []
        self.assignments: list[Assignment] = []

    def _kept(self, case: Case) -> Case:
        merge = self.merges.get(case.returnee_id)
        return case if merge is None else replace(case, merged_into=merge.merged_into)

    def _found(self, returnee_ids: Sequence[UUID]) -> dict[UUID, Case]:
        return {i: self._kept(self.cases[i]) for i in sorted(returnee_ids) if i in self.cases}

    def person_of(self, returnee_id: UUID) -> UUID:
        merge = self.merges.get(returnee_id)
        return returnee_id if merge is None else merge.merged_into

    async def add_many(self, cases: Sequence[Case]) -> list[UUID]:
        new = [case for case in cases if case.returnee_id not in self.cases]
        self.cases.update((case.returnee_id, case) for case in new)
        return [case.returnee_id for case in new]

    async def lock(self, returnee_id: UUID) -> Case | None:
        return self._found([returnee_id]).get(returnee_id)

    async def lock_shared(self, returnee_ids: Sequence[UUID]) -> dict[UUID, Case]:
        return self._found(returnee_ids)

    async def money_granted(
        self, returnee_id: UUID, categories: frozenset[AidCategory], currency: str
    ) -> Decimal:
        return sum(
            (
                aid.amount.amount
                for aid, _ in self.aid
                if self.person_of(aid.returnee_id) == returnee_id
                and returnee_id not in self.merges
                and aid.category in categories
                and aid.amount is not None
                and aid.amount.currency == currency
            ),
            Decimal(0),
        )

    async def add_aid(self, aid: AidGranted, *, exceeded_budget: bool) -> None:
        self.aid.append((aid, exceeded_budget))

    async def aid_owners(self, aid_ids: Sequence[UUID]) -> dict[UUID, UUID]:
        return {
            aid.aid_id: self.person_of(aid.returnee_id)
            for aid, _ in self.aid
            if aid.aid_id in aid_ids
        }

    async def add_activity(self, activity: ActivityLaunched, *, launched_by: str) -> None:
        self.activities.append((activity, launched_by))

    async def save_closure(self, case: Case) -> None:
        self.cases[case.returnee_id] = case

    async def save_reopening(self, case: Case, reopening: Reopening) -> None:
        self.cases[case.returnee_id] = case
        self.reopenings.append(reopening)

    async def save_assignment(self, assignment: Assignment) -> None:
        case = self.cases[assignment.returnee_id]
        self.cases[case.returnee_id] = case.assigned(assignment.assigned_to)
        self.assignments.append(assignment)

    async def add_corrections(self, corrections: Sequence[Correction]) -> int:
        new = [c for c in corrections if (c.returnee_id, c.version) not in self.corrections]
        self.corrections.update(((c.returnee_id, c.version), c) for c in new)
        return len(new)

    async def corrections_of(self, returnee_ids: Sequence[UUID]) -> dict[UUID, list[Correction]]:
        found: dict[UUID, list[Correction]] = {}
        for (returnee_id, _), correction in sorted(self.corrections.items()):
            if returnee_id in returnee_ids:
                found.setdefault(returnee_id, []).append(correction)
        return found

    async def lock_many(self, returnee_ids: Sequence[UUID]) -> dict[UUID, Case]:
        return self._found(returnee_ids)

    async def save_facts(self, cases: Sequence[Case]) -> None:
        self.cases.update((case.returnee_id, case) for case in cases)

    async def merges_for_update(self, returnee_ids: Sequence[UUID]) -> dict[UUID, Merge]:
        return {
            i: merge
            for i, merge in self.merges.items()
            if i in returnee_ids or merge.merged_into in returnee_ids
        }

    async def save_merges(self, merges: Sequence[Merge]) -> None:
        self.merges.update((merge.returnee_id, merge) for merge in merges)

    async def merges_of(self, returnee_ids: Sequence[UUID]) -> dict[UUID, Merge]:
        return {i: merge for i, merge in self.merges.items() if i in returnee_ids}


class FakeOutbox:
    def __init__(self) -> None:
        self.emitted: list[AidGranted | ActivityLaunched | CaseEvent] = []

    async def emit(self, event: AidGranted | ActivityLaunched | CaseEvent) -> None:
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
            FakeOutbox(),
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


def a_correction(returnee_id: UUID, version: int, **facts: Any) -> Correction:
    return Correction(
        returnee_id=returnee_id,
        version=version,
        corrected_at=NOW + timedelta(minutes=version),
        corrected_by="agent.gao.3",
        reason=ChangeReason.RELOCATION,
        **facts,
    )


class TestApplyCorrections:
    async def test_a_transfer_moves_the_open_case(self, cases: FakeCaseRepository) -> None:
        returnee_id = await an_open_case(cases)

        applied = await apply_corrections(
            cases, [a_correction(returnee_id, 2, reception_centre=ReceptionCentre.GAO)]
        )

        assert (applied.kept, applied.changed, applied.waiting) == (1, 1, 0)
        assert cases.cases[returnee_id].reception_centre is ReceptionCentre.GAO

    async def test_a_correction_read_before_the_registration_waits_for_the_case(
        self, cases: FakeCaseRepository
    ) -> None:
        registration = example_returnee_registered(returnee_id=uuid4(), reception_centre="gao")
        transfer = a_correction(registration.returnee_id, 2, reception_centre=ReceptionCentre.KAYES)

        waiting = await apply_corrections(cases, [transfer])
        await open_cases(cases, [registration])

        assert (waiting.kept, waiting.changed, waiting.waiting) == (1, 0, 1)
        case = cases.cases[registration.returnee_id]
        assert case.reception_centre is ReceptionCentre.KAYES
        assert case.as_registered.reception_centre is ReceptionCentre.GAO

    async def test_an_older_version_read_late_changes_nothing(
        self, cases: FakeCaseRepository
    ) -> None:
        returnee_id = await an_open_case(cases)
        newer = a_correction(returnee_id, 3, reception_centre=ReceptionCentre.MOPTI)
        older = a_correction(returnee_id, 2, reception_centre=ReceptionCentre.GAO)

        await apply_corrections(cases, [newer])
        late = await apply_corrections(cases, [older])

        assert (late.kept, late.changed) == (1, 0)
        assert cases.cases[returnee_id].reception_centre is ReceptionCentre.MOPTI

    async def test_a_correction_read_twice_changes_nothing_the_second_time(
        self, cases: FakeCaseRepository
    ) -> None:
        returnee_id = await an_open_case(cases)
        correction = a_correction(returnee_id, 2, arrival_date=date(2024, 6, 10))

        first = await apply_corrections(cases, [correction])
        after_first = cases.cases[returnee_id]
        again = await apply_corrections(cases, [correction])

        assert (first.kept, first.changed) == (1, 1)
        assert (again.kept, again.changed) == (0, 0)
        assert cases.cases[returnee_id] == after_first
        assert after_first.arrival_date == date(2024, 6, 10)

    async def test_a_closed_case_moves_too(self, cases: FakeCaseRepository) -> None:
        returnee_id = await an_open_case(cases)
        await close_case(
            cases,
            FakeOutbox(),
            returnee_id=returnee_id,
            reason=ClosureReason.RELOCATED,
            actor=CASE_WORKER,
            now=NOW,
        )

        await apply_corrections(
            cases, [a_correction(returnee_id, 2, reception_centre=ReceptionCentre.GAO)]
        )

        case = cases.cases[returnee_id]
        assert (case.status, case.reception_centre) == (CaseStatus.CLOSED, ReceptionCentre.GAO)


def a_merge(duplicate: UUID, person: UUID, minutes: int = 0) -> Merge:
    return Merge(duplicate, person, NOW + timedelta(minutes=minutes), "supervisor.bamako")


class TestApplyMerges:
    async def grant_to(
        self, cases: FakeCaseRepository, outbox: FakeOutbox, returnee_id: UUID, amount: str
    ) -> AidGranted:
        granted = await grant_aid(
            cases,
            outbox,
            returnee_id=returnee_id,
            command=grant(amount={"amount": amount}),
            actor=CASE_WORKER,
            budget=BUDGET,
            now=NOW,
        )
        return granted.aid

    async def test_a_merge_leaves_one_open_case_holding_everything(
        self, cases: FakeCaseRepository, outbox: FakeOutbox
    ) -> None:
        person, duplicate = await an_open_case(cases), await an_open_case(cases)
        aid = await self.grant_to(cases, outbox, duplicate, "600000")
        emitted = list(outbox.emitted)

        applied = await apply_merges(cases, [a_merge(duplicate, person)])

        assert (applied.kept, applied.closed, applied.waiting) == (1, 1, 0)
        closed = cases.cases[duplicate]
        assert (closed.status, closed.closure_reason) == (
            CaseStatus.CLOSED,
            ClosureReason.DUPLICATE_REGISTRATION,
        )
        assert (closed.closed_at, closed.closed_by) == (NOW, "supervisor.bamako")
        assert cases.cases[person].is_open
        # The duplicate's aid counts for the person: their budget, their activities...
        assert await cases.aid_owners([aid.aid_id]) == {aid.aid_id: person}
        with pytest.raises(RuleViolation, match="400000"):
            await self.grant_to(cases, outbox, person, "400001")
        # ...and nothing is published again for it.
        assert outbox.emitted == emitted

    async def test_the_duplicate_gets_no_aid_and_the_client_is_told_the_persons_case(
        self, cases: FakeCaseRepository, outbox: FakeOutbox
    ) -> None:
        person, duplicate = await an_open_case(cases), await an_open_case(cases)
        await apply_merges(cases, [a_merge(duplicate, person)])

        with pytest.raises(CaseMerged) as refused:
            await self.grant_to(cases, outbox, duplicate, "1000")

        assert refused.value.context["merged_into"] == {str(duplicate): str(person)}
        assert outbox.emitted == []

    async def test_an_activity_naming_the_duplicate_is_refused_naming_the_field(
        self, cases: FakeCaseRepository, outbox: FakeOutbox
    ) -> None:
        person, duplicate, other = [await an_open_case(cases) for _ in range(3)]
        duplicates_aid = await self.grant_to(cases, outbox, duplicate, "1000")
        await apply_merges(cases, [a_merge(duplicate, person)])
        activity = TestLaunchActivity().collective

        with pytest.raises(CaseMerged) as refused:
            await launch_activity(
                cases,
                outbox,
                command=activity([other, duplicate], []),
                actor=CASE_WORKER,
                now=NOW,
            )
        assert refused.value.context["field"] == "returnee_ids"
        assert refused.value.context["merged_into"] == {str(duplicate): str(person)}
        # The person's case may use the aid granted under the duplicate registration.
        launched = await launch_activity(
            cases,
            outbox,
            command=activity([other, person], [duplicates_aid.aid_id]),
            actor=CASE_WORKER,
            now=NOW,
        )
        assert launched.aid_ids == [duplicates_aid.aid_id]

    async def test_a_merge_read_before_the_registrations_waits_for_them(
        self, cases: FakeCaseRepository
    ) -> None:
        person = example_returnee_registered(returnee_id=uuid4())
        duplicate = example_returnee_registered(returnee_id=uuid4())

        early = await apply_merges(cases, [a_merge(duplicate.returnee_id, person.returnee_id)])
        await open_cases(cases, [duplicate])
        await open_cases(cases, [person])

        assert (early.kept, early.closed, early.waiting) == (1, 0, 1)
        closed = cases.cases[duplicate.returnee_id]
        assert closed.closure_reason is ClosureReason.DUPLICATE_REGISTRATION
        assert closed.closed_by == "supervisor.bamako"
        assert cases.cases[person.returnee_id].is_open

    async def test_a_merge_read_twice_changes_nothing_the_second_time(
        self, cases: FakeCaseRepository
    ) -> None:
        person, duplicate = await an_open_case(cases), await an_open_case(cases)
        await apply_merges(cases, [a_merge(duplicate, person)])
        after_first = dict(cases.cases), dict(cases.merges)

        again = await apply_merges(cases, [a_merge(duplicate, person)])

        assert (again.kept, again.closed) == (0, 0)
        assert (dict(cases.cases), dict(cases.merges)) == after_first

    async def test_the_move_happens_into_a_closed_case_too(
        self, cases: FakeCaseRepository, outbox: FakeOutbox
    ) -> None:
        person, duplicate = await an_open_case(cases), await an_open_case(cases)
        aid = await self.grant_to(cases, outbox, duplicate, "1000")
        await close_case(
            cases,
            FakeOutbox(),
            returnee_id=person,
            reason=ClosureReason.RETURNEE_UNREACHABLE,
            actor=CASE_WORKER,
            now=NOW,
        )

        await apply_merges(cases, [a_merge(duplicate, person)])

        assert await cases.aid_owners([aid.aid_id]) == {aid.aid_id: person}
        assert cases.cases[person].closure_reason is ClosureReason.RETURNEE_UNREACHABLE
        assert cases.cases[duplicate].closure_reason is ClosureReason.DUPLICATE_REGISTRATION

    async def test_whatever_the_order_everything_ends_under_the_person_once(self) -> None:
        """Registrations of A, B and X, and X merged into B, then B into A (intake also sends X
        into A), read in every order Kafka allows (one registration's merges share its
        partition, in the order they were decided): the same cases, each person counted once."""
        person, middle, first = uuid4(), uuid4(), uuid4()
        registrations = [
            example_returnee_registered(returnee_id=i) for i in (person, middle, first)
        ]
        first_into_middle = a_merge(first, middle, 0)
        first_into_person = a_merge(first, person, 5)
        steps: list[Merge | RegistrationFacts] = [
            *registrations,
            first_into_middle,
            a_merge(middle, person, 5),
            first_into_person,
        ]
        outcomes = set()
        for order in permutations(steps):
            if order.index(first_into_middle) > order.index(first_into_person):
                continue
            cases = FakeCaseRepository()
            for step in order:
                if isinstance(step, Merge):
                    await apply_merges(cases, [step])
                else:
                    await open_cases(cases, [step])
            outcomes.add(
                (
                    # As the service reads them back (merged_into is the merges' to say).
                    frozenset((await cases.lock_many(list(cases.cases))).values()),
                    frozenset(
                        (r.returnee_id, cases.person_of(r.returnee_id)) for r in registrations
                    ),
                )
            )

        assert len(outcomes) == 1
        ((final, persons),) = outcomes
        assert persons == {(person, person), (middle, person), (first, person)}
        assert [case.returnee_id for case in final if case.is_open] == [person]
        assert {case.closed_at for case in final if not case.is_open} == {
            NOW,  # first's, when it was found to be middle's duplicate
            NOW + timedelta(minutes=5),
        }

    async def test_aid_of_a_chain_counts_once_for_the_person(
        self, cases: FakeCaseRepository, outbox: FakeOutbox
    ) -> None:
        person, middle, first = [await an_open_case(cases) for _ in range(3)]
        await self.grant_to(cases, outbox, first, "300000")
        await self.grant_to(cases, outbox, middle, "200000")

        await apply_merges(cases, [a_merge(first, middle, 0)])
        await apply_merges(cases, [a_merge(middle, person, 5), a_merge(first, person, 5)])

        money = frozenset({AidCategory.BUSINESS_START_UP_GRANT})
        assert await cases.money_granted(person, money, "XOF") == Decimal("500000")
        assert await cases.money_granted(middle, money, "XOF") == Decimal(0)
        assert await cases.money_granted(first, money, "XOF") == Decimal(0)


class TestCloseCase:
    async def test_closes_with_a_reason(self, cases: FakeCaseRepository) -> None:
        returnee_id = await an_open_case(cases)
        command = CloseCase(reason=ClosureReason.REINTEGRATION_COMPLETED)

        outbox = FakeOutbox()
        closed = await close_case(
            cases,
            outbox,
            returnee_id=returnee_id,
            reason=command.reason,
            actor=CASE_WORKER,
            now=NOW,
        )

        assert cases.cases[returnee_id] == closed
        assert closed.closure_reason is ClosureReason.REINTEGRATION_COMPLETED
        assert outbox.emitted == [
            CaseClosedEvent(
                returnee_id=returnee_id,
                reason=ClosureReason.REINTEGRATION_COMPLETED,
                closed_at=NOW,
                closed_by=CASE_WORKER.subject,
            )
        ]

    async def test_an_unknown_case_is_not_found(self, cases: FakeCaseRepository) -> None:
        with pytest.raises(CaseNotFound):
            await close_case(
                cases,
                FakeOutbox(),
                returnee_id=uuid4(),
                reason=ClosureReason.DECEASED,
                actor=CASE_WORKER,
                now=NOW,
            )


def test_arrival_is_counted_from_the_start_of_the_day() -> None:
    case = Case.open_for(example_returnee_registered(arrival_date="2024-06-11"))

    assert case.arrived_at == datetime(2024, 6, 11, tzinfo=UTC)
    assert case.arrival_date == date(2024, 6, 11)
