"""Merges of duplicate registrations (returnee.merged), as pure rules: which registration each
is counted as, whatever order the merges are read in; how a duplicate's case closes and what it
answers; how an activity names a person who took part under two registrations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import permutations
from uuid import UUID, uuid4

import pytest

from retour_contracts import Money, Share
from retour_contracts.examples import example_returnee_merged, example_returnee_registered
from retour_reintegration.domain.case import Case, CaseStatus, ClosureReason
from retour_reintegration.domain.errors import CaseClosed, CaseMerged
from retour_reintegration.domain.merges import Merge, counted_once, merge_registrations
from retour_reintegration.entrypoints.rule_violations import status_of

AT = datetime(2024, 6, 20, 11, 0, tzinfo=UTC)
A, B, X, Z = UUID(int=0xA), UUID(int=0xB), UUID(int=0xC), UUID(int=0xF)


def merge(duplicate: UUID, person: UUID, hours: int = 0, by: str = "supervisor.1") -> Merge:
    return Merge(duplicate, person, AT + timedelta(hours=hours), by)


def counted_as(merges: list[Merge]) -> dict[UUID, UUID]:
    """Reads ``merges`` one at a time, as separate batches would, keeping what each kept."""
    kept: dict[UUID, Merge] = {}
    for one in merges:
        kept = merge_registrations(kept, [one]).kept
    return {duplicate: m.merged_into for duplicate, m in kept.items()}


class TestTheMergeEvent:
    def test_a_merge_is_taken_from_the_event_as_decided(self) -> None:
        event = example_returnee_merged()

        taken = Merge.of(event)

        assert taken == Merge(
            event.returnee_id, event.merged_into, event.merged_at, "supervisor.bamako.2"
        )

    def test_a_registration_is_not_merged_into_itself(self) -> None:
        with pytest.raises(ValueError, match="itself"):
            Merge(A, A, AT, "supervisor.1")


class TestKeepingMerges:
    def test_a_merge_is_kept_as_decided(self) -> None:
        kept = merge_registrations({}, [merge(B, A)])

        assert kept.kept == {B: merge(B, A)}
        assert kept.changed == [merge(B, A)]
        assert kept.refused == 0

    def test_reading_it_again_changes_nothing(self) -> None:
        first = merge_registrations({}, [merge(B, A)])

        again = merge_registrations(first.kept, [merge(B, A)])

        assert again.kept == first.kept
        assert again.changed == []

    def test_a_chain_ends_at_the_person_whatever_the_order(self) -> None:
        # X was merged into B, then B into A: intake also publishes X into A.
        decisions = [merge(X, B, 0), merge(B, A, 1), merge(X, A, 1)]

        results = [counted_as(list(order)) for order in permutations(decisions)]

        assert all(result == {X: A, B: A} for result in results)

    def test_without_the_direct_merge_the_chain_still_ends_at_the_person(self) -> None:
        for order in permutations([merge(X, B, 0), merge(B, A, 1)]):
            assert counted_as(list(order)) == {X: A, B: A}

    def test_the_first_decision_about_a_registration_is_its_closure(self) -> None:
        for order in permutations([merge(X, B, 0, "sup.b"), merge(B, A, 1), merge(X, A, 1)]):
            kept = merge_registrations({}, list(order)).kept
            assert (kept[X].merged_at, kept[X].merged_by) == (AT, "sup.b")

    def test_a_merge_back_into_its_own_duplicate_is_refused(self) -> None:
        kept = merge_registrations({}, [merge(B, A, 0), merge(A, B, 1)])

        assert kept.refused == 1
        assert {d: m.merged_into for d, m in kept.kept.items()} == {B: A}

    def test_the_person_merged_later_takes_their_duplicates_along(self) -> None:
        # A itself turns out to be a later registration of Z.
        kept = merge_registrations({B: merge(B, A)}, [merge(A, Z, 2)])

        assert {d: m.merged_into for d, m in kept.kept.items()} == {B: Z, A: Z}
        assert sorted(m.returnee_id.int for m in kept.changed) == [A.int, B.int]


class TestTheDuplicatesCase:
    def case(self) -> Case:
        return Case.open_for(example_returnee_registered(returnee_id=B))

    def test_an_open_case_closes_as_a_duplicate_when_and_by_whom_decided(self) -> None:
        merged = self.case().merged(merge(B, A, 3, "supervisor.bamako"))

        assert merged.status is CaseStatus.CLOSED
        assert merged.closure_reason is ClosureReason.DUPLICATE_REGISTRATION
        assert (merged.closed_at, merged.closed_by) == (
            AT + timedelta(hours=3),
            "supervisor.bamako",
        )
        assert merged.merged_into == A

    def test_a_case_closed_before_keeps_its_closure(self) -> None:
        closed = self.case().close(ClosureReason.REMIGRATED, at=AT, by="agent.1")

        merged = closed.merged(merge(B, A, 3))

        assert (merged.closure_reason, merged.closed_at, merged.closed_by) == (
            ClosureReason.REMIGRATED,
            AT,
            "agent.1",
        )
        assert merged.merged_into == A

    def test_another_registrations_merge_does_not_apply(self) -> None:
        with pytest.raises(ValueError, match="another registration"):
            self.case().merged(merge(X, A))

    def test_it_refuses_new_aid_naming_the_persons_case(self) -> None:
        merged = self.case().merged(merge(B, A))

        with pytest.raises(CaseMerged) as refused:
            merged.check_is_open()

        assert status_of(refused.value) == 409
        assert refused.value.rule == "case_merged"
        assert refused.value.context == {"returnee_ids": [str(B)], "merged_into": {str(B): str(A)}}
        assert str(A) in refused.value.detail

    def test_an_activity_is_told_which_field_and_which_case_to_use(self) -> None:
        refused = CaseMerged({B: A, X: A}, field="returnee_ids")

        assert refused.context["field"] == "returnee_ids"
        assert refused.context["merged_into"] == {str(B): str(A), str(X): str(A)}

    def test_a_case_closed_otherwise_is_just_closed(self) -> None:
        closed = self.case().close(ClosureReason.DECEASED, at=AT, by="agent.1")

        with pytest.raises(CaseClosed):
            closed.check_is_open()


class TestAnActivityCountsEachPersonOnce:
    def test_a_person_under_two_registrations_is_listed_once_with_both_shares(self) -> None:
        other = uuid4()
        shares = [
            Share(returnee_id=A, amount=Money(amount=Decimal(400000))),
            Share(returnee_id=other, amount=Money(amount=Decimal(200000))),
            Share(returnee_id=A, amount=Money(amount=Decimal(100000))),  # was B's share
        ]

        participants, counted = counted_once([A, other, A], shares)

        assert participants == [A, other]
        assert counted == [
            Share(returnee_id=A, amount=Money(amount=Decimal(500000))),
            Share(returnee_id=other, amount=Money(amount=Decimal(200000))),
        ]

    def test_distinct_people_are_left_as_they_are(self) -> None:
        assert counted_once([B, A], []) == ([B, A], [])
