"""Merges (``returnee.merged``) in the projections: what is kept of a merge, which merge of a
registration is kept, whom chains of merges count a registration as, and that every order of
the same events (merges before or after either registration, before or after the merged
registration's aid, links of a chain in any order, redeliveries) ends in the same rows."""

from __future__ import annotations

import itertools
import random
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from uuid import UUID, uuid4

import pytest

from retour_contracts import (
    RETURNEE_MERGED_V1,
    ActivityLaunched,
    AidGranted,
    ReturneeMerged,
    ReturneeRegistered,
    build_envelope,
    parse_envelope,
)
from retour_contracts.examples import (
    example_activity_launched,
    example_aid_granted,
    example_returnee_registered,
)
from retour_reporting.adapters.pg_projections import PgProjectionStore
from retour_reporting.domain.corrections import FieldChange
from retour_reporting.domain.merges import (
    KeptMerge,
    Merge,
    counted_as,
    merge_of,
    newest,
    recounted,
    supersedes,
)
from retour_reporting.domain.projection import ProjectionRows, RegistrationRow, rows_for
from retour_reporting.entrypoints.projection_consumer import projecting
from retour_reporting.main import SERVICE
from retour_reporting.settings import Settings
from retour_reporting.usecases.projecting import apply_rows

MOMENT = datetime(2024, 6, 20, 11, 0, tzinfo=UTC)


def merged(returnee_id: UUID, into: UUID, *, at: datetime = MOMENT) -> ReturneeMerged:
    return ReturneeMerged(
        returnee_id=returnee_id, merged_into=into, merged_at=at, merged_by="supervisor.gao.1"
    )


def registered(returnee_id: UUID, **overrides: Any) -> ReturneeRegistered:
    return example_returnee_registered(
        returnee_id=str(returnee_id), personal={"date_of_birth": None}, **overrides
    )


def aid_for(returnee_id: UUID) -> AidGranted:
    return example_aid_granted(aid_id=str(uuid4()), returnee_id=str(returnee_id))


def activity_of(*people: UUID) -> ActivityLaunched:
    return example_activity_launched(
        activity_id=str(uuid4()),
        returnee_ids=[str(p) for p in people],
        level="collective" if len(people) > 1 else "individual",
    )


# ---- what is kept of a merge, and which one --------------------------------------------------


class TestWhatIsKeptOfAMerge:
    def test_the_two_registrations_and_the_moment_not_who_decided(self) -> None:
        b, a = uuid4(), uuid4()

        kept = merge_of(merged(b, a))

        assert kept == Merge(b, a, MOMENT)
        assert "supervisor" not in repr(kept)

    def test_the_later_decision_wins_in_any_order(self) -> None:
        x, b, a = uuid4(), uuid4(), uuid4()
        into_b = Merge(x, b, MOMENT)
        into_a = Merge(x, a, MOMENT + timedelta(days=3))

        for order in ([into_b, into_a], [into_a, into_b]):
            assert newest(order) == [into_a]

    def test_of_two_decisions_at_one_moment_the_greater_target_wins_in_any_order(self) -> None:
        x = uuid4()
        one, two = sorted([Merge(x, uuid4(), MOMENT), Merge(x, uuid4(), MOMENT)])

        assert newest([one, two]) == newest([two, one]) == [two]

    def test_the_same_merge_read_again_replaces_nothing(self) -> None:
        merge = Merge(uuid4(), uuid4(), MOMENT)

        assert not supersedes(merge, merge)

    def test_registrations_are_kept_apart(self) -> None:
        merges = [Merge(uuid4(), uuid4(), MOMENT), Merge(uuid4(), uuid4(), MOMENT)]

        assert sorted(newest(merges)) == sorted(merges)

    def test_a_batch_keeps_the_newest_merge_of_each_registration_and_nothing_else(self) -> None:
        x, b, a = uuid4(), uuid4(), uuid4()
        later = MOMENT + timedelta(hours=1)

        rows = rows_for([merged(x, b), merged(b, a, at=later), merged(x, a, at=later)])

        assert sorted(rows.merges) == sorted([Merge(b, a, later), Merge(x, a, later)])
        assert (rows.registrations, rows.aid, rows.changes) == ([], [], [])


class TestWhomARegistrationCountsAs:
    def test_a_merged_registration_counts_as_the_one_it_was_merged_into(self) -> None:
        b, a = uuid4(), uuid4()

        assert counted_as({b: a}) == {b: a}

    def test_a_chain_counts_every_link_as_its_end_whatever_order_it_is_read_in(self) -> None:
        x, b, a = uuid4(), uuid4(), uuid4()
        links = [(x, b), (b, a)]

        for order in (links, links[::-1]):
            assert counted_as(dict(order)) == {x: a, b: a}

    def test_long_and_branching_chains(self) -> None:
        people = [uuid4() for _ in range(8)]
        # 0 <- 1 <- 2 <- 3 <- 4, and 5 -> 3, 6 -> 1; 7 stands alone.
        merges = {people[i]: people[i - 1] for i in range(1, 5)}
        merges |= {people[5]: people[3], people[6]: people[1]}

        ends = counted_as(merges)

        assert ends == {p: people[0] for p in merges}
        assert people[7] not in ends

    def test_a_cycle_counts_as_its_smallest_registration_and_ends(self) -> None:
        # Intake never makes one (a later registration into an earlier one); no loop if it did.
        one, two, three = sorted([uuid4(), uuid4(), uuid4()])
        tail = uuid4()

        ends = counted_as({two: three, three: one, one: two, tail: three})

        assert ends == {one: one, two: one, three: one, tail: one}

    def test_only_merges_counted_as_someone_else_now_are_recounted(self) -> None:
        x, b, a, c, d = (uuid4() for _ in range(5))
        kept = [KeptMerge(x, b, b), KeptMerge(b, a, a), KeptMerge(c, d, d)]

        assert recounted(kept) == {x: a}
        assert recounted([KeptMerge(x, b, a), KeptMerge(b, a, a)]) == {}


# ---- the use case, against a store that behaves as the tables do ------------------------------


class MergeStore:
    """The projections as the Postgres store keeps them, merges included: first row of a
    business id wins, the merge kept per registration follows ``supersedes``. Records the order
    of its calls."""

    def __init__(self) -> None:
        self.registrations: dict[UUID, RegistrationRow] = {}
        self.aid: dict[UUID, UUID] = {}  # aid -> registration it was granted under
        self.participants: set[tuple[UUID, UUID]] = set()
        self.kept: dict[UUID, KeptMerge] = {}
        self.merged_at: dict[UUID, datetime] = {}
        self.calls: list[str] = []

    async def lock_registrations(self, *, exclusive: bool) -> None:
        self.calls.append("lock exclusive" if exclusive else "lock shared")

    async def record_changes(self, changes: Sequence[FieldChange]) -> None:
        self.calls.append("record changes")

    async def changes_of(self, returnee_ids: Collection[UUID]) -> list[FieldChange]:
        return []

    async def registrations_of(self, returnee_ids: Collection[UUID]) -> list[RegistrationRow]:
        return [row for key, row in self.registrations.items() if key in returnee_ids]

    async def replace_registrations(self, rows: Sequence[RegistrationRow]) -> None:
        raise AssertionError("merges rewrite no registration")

    async def record_merges(self, merges: Sequence[Merge]) -> None:
        self.calls.append("record merges")
        for merge in merges:
            held = self.kept.get(merge.returnee_id)
            if held is None or supersedes(
                merge, Merge(held.returnee_id, held.merged_into, self.merged_at[held.returnee_id])
            ):
                self.kept[merge.returnee_id] = KeptMerge(*merge[:2], merge.merged_into)
                self.merged_at[merge.returnee_id] = merge.merged_at

    async def merges(self) -> list[KeptMerge]:
        self.calls.append("read merges")
        return list(self.kept.values())

    async def count_as(self, people: Mapping[UUID, UUID]) -> None:
        self.calls.append("count as")
        for merged_id, end in people.items():
            self.kept[merged_id] = self.kept[merged_id]._replace(counted_as=end)

    async def write(self, rows: ProjectionRows) -> None:
        self.calls.append("write")
        for row in rows.registrations:
            self.registrations.setdefault(row.returnee_id, row)
        for aid in rows.aid:
            self.aid.setdefault(aid.aid_id, aid.returnee_id)
        self.participants.update(rows.participants)

    # What the reports read (report_sql), in Python: whom a row counts as.
    def person(self, returnee_id: UUID) -> UUID:
        merge = self.kept.get(returnee_id)
        return merge.counted_as if merge else returnee_id

    def people(self) -> set[UUID]:
        return {p for p in self.registrations if self.person(p) == p}

    def aided(self) -> set[UUID]:
        return {self.person(owner) for owner in self.aid.values()}

    def participants_of(self, activity_id: UUID) -> set[UUID]:
        return {self.person(p) for a, p in self.participants if a == activity_id}


async def _applied(*batches: Sequence[Any]) -> MergeStore:
    store = MergeStore()
    for batch in batches:
        await apply_rows(store, rows_for(batch))
    return store


A, B, X = uuid4(), uuid4(), uuid4()
LATER = MOMENT + timedelta(days=2)
TOGETHER = activity_of(A, B)
# X was merged into B; B is merged into A later, and intake then merges X into A directly.
EVENTS = [
    registered(A),
    registered(B),
    registered(X),
    aid_for(B),
    TOGETHER,
    merged(X, B),
    merged(B, A, at=LATER),
    merged(X, A, at=LATER),
]


def _expect_everything_under_a(store: MergeStore) -> None:
    assert store.kept == {B: KeptMerge(B, A, A), X: KeptMerge(X, A, A)}
    assert store.people() == {A}
    assert store.aided() == {A}
    assert store.participants_of(TOGETHER.activity_id) == {A}
    # Nothing rewritten: rows keep the registration they were recorded under.
    assert set(store.registrations) == {A, B, X}
    assert set(store.aid.values()) == {B}


async def test_every_order_of_registrations_aid_activities_and_a_chain_of_merges_agrees() -> None:
    orders = list(itertools.permutations(EVENTS))
    for order in random.Random(3).sample(orders, 600):
        _expect_everything_under_a(await _applied(*([event] for event in order)))
        _expect_everything_under_a(await _applied(order))


@pytest.mark.parametrize(
    "order",
    list(itertools.permutations([merged(X, B), merged(B, A, at=LATER), merged(X, A, at=LATER)])),
    ids=lambda order: "-".join(
        f"{'XB'[m.returnee_id == B]}{'BA'[m.merged_into == A]}" for m in order
    ),
)
async def test_the_links_of_a_chain_in_any_order_end_under_a(order: tuple[Any, ...]) -> None:
    one_by_one = await _applied(*([event] for event in order))
    together = await _applied(order)

    assert one_by_one.kept == together.kept == {B: KeptMerge(B, A, A), X: KeptMerge(X, A, A)}


async def test_the_middle_link_read_last_moves_what_was_merged_before() -> None:
    # X into B read, then B into A: without intake's X into A (read later, or not yet), X's
    # aid already counts as A's.
    store = await _applied([registered(A), registered(X), aid_for(X)], [merged(X, B)])
    assert store.aided() == {B}

    await apply_rows(store, rows_for([merged(B, A, at=LATER)]))

    assert store.kept[X] == KeptMerge(X, B, A)
    assert store.aided() == {A}
    assert store.people() == {A}


async def test_redelivered_and_superseded_merges_change_nothing() -> None:
    store = await _applied(EVENTS)
    before, calls = dict(store.kept), len(store.calls)

    await apply_rows(store, rows_for([merged(X, B), merged(B, A, at=LATER)]))

    assert store.kept == before
    assert "count as" not in store.calls[calls:]


async def test_a_merge_takes_the_lock_alone_before_anything_is_read_or_written() -> None:
    store = await _applied([merged(B, A)])

    assert store.calls[:3] == ["lock exclusive", "record merges", "read merges"]


async def test_aid_for_a_merged_registration_still_takes_no_lock() -> None:
    # Nothing written for a merge rewrites an aid row, so an aid batch cannot miss one.
    store = await _applied([merged(B, A)])
    calls = len(store.calls)

    await apply_rows(store, rows_for([aid_for(B)]))

    assert store.calls[calls:] == ["write"]
    assert store.aided() == {A}


# ---- wiring -------------------------------------------------------------------------------------


async def test_the_consumer_projects_merges() -> None:
    store = MergeStore()
    envelope = build_envelope(RETURNEE_MERGED_V1, merged(B, A), source="/intake")
    parsed = parse_envelope(envelope.topic, envelope.key, envelope.value, envelope.headers)

    await projecting(None)(cast(PgProjectionStore, store), [parsed])

    assert store.kept == {B: KeptMerge(B, A, A)}


def test_the_service_and_its_rebuild_read_the_merge_topic() -> None:
    # The rebuild replays the topics of SERVICE.consumes (main.run_rebuild).
    settings = Settings(
        database_url="postgresql://reporting@localhost/retour",
        auth_jwt_secret="x" * 32,
        returnee_merged_topic="copy.returnee.merged",
    )

    assert RETURNEE_MERGED_V1 in SERVICE.consumes
    assert settings.topic_of(RETURNEE_MERGED_V1) == "copy.returnee.merged"
