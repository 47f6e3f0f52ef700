"""Merges (``returnee.merged``) in the reports, through the real Kafka and PostgreSQL: a person
registered twice counts once, as the registration kept, with the aid and activities of both
registrations and the arrival of the one kept; chains of merges (X into B, then B into A, and
intake's X into A) end with everything under A; merges read before either registration or
before the merged registration's aid, or read again, end in the same figures; and a rebuild
from the five topics gives the very same projection.

The expected reports come from the oracle of test_reporting_history, run over the history as
the corrections and the merges leave it (applied here in plain Python): merged registrations
left out, their aid and participations handed to the registration at the end of the chain.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import UUID

import pytest
from test_reporting_corrections import as_corrected, seeded_corrections
from test_reporting_history import (
    History,
    Oracle,
    Query,
    activity,
    aid,
    registration,
    seeded_history,
)
from test_reporting_sandbox import (
    PROJECTION_KEYS,
    AnyEvent,
    Reporting,
    Sandbox,
    apply_at_the_same_moment,
    assert_as_oracle,
    inbox_count,
    oracle_query,
    reporting_api,
    reporting_sandbox,
    table_checksums,
)

from retour_contracts import (
    ActivityLaunched,
    AidGranted,
    Event,
    ReceptionCentre,
    ReturneeMerged,
    ReturneeRegistered,
    ReturneeUpdated,
)
from retour_reporting.adapters.pg_projections import PgProjectionStore
from retour_reporting.domain.projection import rows_for
from retour_reporting.usecases.projecting import apply_rows
from retour_test_infra import Infra, eventually

pytestmark = pytest.mark.integration

RETURNEES = 400
PAIRS = 40
FEBRUARY_2022 = {"from": "2022-02-01", "to": "2022-02-28"}
MARCH_2022 = {"from": "2022-03-01", "to": "2022-03-31"}
APRIL_2022 = {"from": "2022-04-01", "to": "2022-04-30"}
DECIDED = datetime(2024, 8, 1, 9, tzinfo=UTC)


def merge(merged: ReturneeRegistered, into: ReturneeRegistered, at: datetime) -> ReturneeMerged:
    return ReturneeMerged(
        returnee_id=merged.returnee_id,
        merged_into=into.returnee_id,
        merged_at=at,
        merged_by="supervisor.test",
    )


def _at(day: date, hours: float) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC) + timedelta(hours=hours)


def registered_again(rng: random.Random, person: ReturneeRegistered) -> ReturneeRegistered:
    """A later registration of ``person``, a weak duplicate: entered again a few days after, at
    any centre, with the same origin, sex and age."""
    return registration(
        rng,
        person.arrival_date + timedelta(days=rng.randint(0, 4)),
        host_country=person.host_country,
        region_of_origin=person.region_of_origin,
        sex=person.sex,
        age_years=person.age_years,
    )


# ---- the oracle's history: corrections, then merges, applied in plain Python ---------------------


def as_merged(history: History, merges: Iterable[ReturneeMerged]) -> History:
    """``history`` as ``merges`` leave it: each registration's latest merge kept, followed to
    the end of its chain; merged registrations left out; their aid and participations handed
    to the registration at the end (a participant once per activity)."""
    latest: dict[UUID, ReturneeMerged] = {}
    for m in merges:
        held = latest.get(m.returnee_id)
        if held is None or (m.merged_at, m.merged_into) > (held.merged_at, held.merged_into):
            latest[m.returnee_id] = m

    def person(returnee_id: UUID) -> UUID:
        while returnee_id in latest:
            returnee_id = latest[returnee_id].merged_into
        return returnee_id

    return History(
        registrations=[r for r in history.registrations if r.returnee_id not in latest],
        aid=[a.model_copy(update={"returnee_id": person(a.returnee_id)}) for a in history.aid],
        activities=[
            a.model_copy(update={"returnee_ids": list(dict.fromkeys(map(person, a.returnee_ids)))})
            for a in history.activities
        ],
    )


def expected_history(events: Iterable[AnyEvent]) -> History:
    """The history the reports should show once ``events`` are read, in whatever order."""
    events = list(events)
    registrations = [e for e in events if isinstance(e, ReturneeRegistered)]
    updates = [e for e in events if isinstance(e, ReturneeUpdated)]
    history = History(
        registrations=as_corrected(registrations, updates),
        aid=[e for e in events if isinstance(e, AidGranted)],
        activities=[e for e in events if isinstance(e, ActivityLaunched)],
    )
    return as_merged(history, (e for e in events if isinstance(e, ReturneeMerged)))


# ---- the scenario -------------------------------------------------------------------------------


@dataclass
class MarchPair:
    """The acceptance: A registered in Gao on 7 March 2022, B the next day in Bamako, a weak
    duplicate of A. Aid is granted to B only: immediate care 34 hours after A's arrival (10
    hours after B's), reintegration aid in May; A and B appear together in an activity
    launched in April. Then B is merged into A."""

    a: ReturneeRegistered
    b: ReturneeRegistered
    events: list[Event]  # B's aid and the joint activity
    merge: ReturneeMerged

    @classmethod
    def make(cls, rng: random.Random) -> MarchPair:
        a = registration(rng, date(2022, 3, 7), reception_centre=ReceptionCentre.GAO)
        b = registration(rng, date(2022, 3, 8), reception_centre=ReceptionCentre.BAMAKO)
        care = aid(rng, b.returnee_id, _at(b.arrival_date, 10), "immediate")
        later = aid(rng, b.returnee_id, datetime(2022, 5, 2, 9, tzinfo=UTC), "reintegration")
        joint = activity(rng, [a.returnee_id, b.returnee_id], datetime(2022, 4, 15, tzinfo=UTC))
        return cls(a, b, [care, later, joint], merge(b, a, DECIDED))


@dataclass
class FebruaryChain:
    """A chain: A arrived on 1 February 2022; B (2 February) and X (3 February) are the same
    person registered again. Immediate aid went to X, 54 hours after B's arrival but 78 after
    A's. X was merged into B first; B into A, and intake's X into A, are read last."""

    a: ReturneeRegistered
    b: ReturneeRegistered
    x: ReturneeRegistered
    care: AidGranted
    first: ReturneeMerged
    last: list[ReturneeMerged]

    @classmethod
    def make(cls, rng: random.Random) -> FebruaryChain:
        a, b, x = (registration(rng, date(2022, 2, day)) for day in (1, 2, 3))
        care = aid(rng, x.returnee_id, _at(date(2022, 2, 3), 30), "immediate")
        later = DECIDED + timedelta(days=1)
        return cls(a, b, x, care, merge(x, b, DECIDED), [merge(b, a, later), merge(x, a, later)])


@dataclass
class Scenario:
    """Everything published: ``first`` shuffled, then ``late`` (what merges are read before)."""

    first: list[AnyEvent]
    late: list[AnyEvent]
    merges: list[ReturneeMerged]
    superseded: list[ReturneeMerged]
    march: MarchPair
    february: FebruaryChain


def scenario() -> Scenario:
    rng = random.Random(29)
    history = seeded_history(RETURNEES, seed=23)
    updates = seeded_corrections(history, seed=24)
    late: list[AnyEvent] = []
    merges: list[ReturneeMerged] = []
    duplicates: list[AnyEvent] = []
    for i, a in enumerate(history.registrations[:PAIRS]):
        b = registered_again(rng, a)
        care = [aid(rng, b.returnee_id, _at(b.arrival_date, rng.uniform(2, 100)), "immediate")]
        if i % 3 == 0:
            care.append(aid(rng, b.returnee_id, _at(b.arrival_date, 24 * 40), "reintegration"))
        together = [activity(rng, [a.returnee_id, b.returnee_id], _at(b.arrival_date, 24 * 60))]
        merges.append(merge(b, a, DECIDED + timedelta(minutes=i)))
        duplicates += [b, *care, *(together if i % 2 else [])]
        # The merge read before A's registration (0-9), before both (5-9), before B's (5-14),
        # before B's aid (15-24); the others in any order.
        late += [a] if i < 10 else []
        late += [b] if 5 <= i < 15 else []
        late += care if 15 <= i < 25 else []
    chains, superseded = _chains(rng, history)
    march, february = MarchPair.make(rng), FebruaryChain.make(rng)
    merges += [*chains.merges, february.first, *february.last]
    late += [march.merge, *chains.late, *february.last]
    everything: list[AnyEvent] = [
        *history.events(),
        *duplicates,
        *chains.registrations,
        *updates,
        *merges,
        march.a,
        march.b,
        *march.events,
        february.a,
        february.b,
        february.x,
        february.care,
    ]
    held = {id(e) for e in late}
    first = [e for e in everything if id(e) not in held]
    random.Random(7).shuffle(first)
    superseded.append(february.first)
    return Scenario(first, late, [*merges, march.merge], superseded, march, february)


@dataclass
class Chains:
    registrations: list[ReturneeRegistered]
    merges: list[ReturneeMerged]
    late: list[AnyEvent]


def _chains(rng: random.Random, history: History) -> tuple[Chains, list[ReturneeMerged]]:
    """Five chains over people of the history (A): X into B, then B into A and X into A. Read
    late: B into A and X into A (0), B into A (1), X into B and X into A (2), A's registration
    (3), X into A (4: until then X counts as A through B)."""
    chains = Chains([], [], [])
    superseded = []
    for i, a in enumerate(history.registrations[PAIRS : PAIRS + 5]):
        x, b = registered_again(rng, a), registered_again(rng, a)
        x_into_b, later = merge(x, b, DECIDED), DECIDED + timedelta(days=2, minutes=i)
        b_into_a, x_into_a = merge(b, a, later), merge(x, a, later)
        chains.registrations += [x, b]
        chains.merges += [x_into_b, b_into_a, x_into_a]
        superseded.append(x_into_b)
        read_late: list[list[AnyEvent]] = [
            [b_into_a, x_into_a],
            [b_into_a],
            [x_into_b, x_into_a],
            [a],
            [x_into_a],
        ]
        chains.late += read_late[i]
    return chains, superseded


@dataclass
class Merged(Reporting[AnyEvent]):
    scenario: Scenario
    after_first: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    """Reports read after ``first`` only, by report and case."""


async def _snapshot(state: Merged) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (name, case): await state.report(name, CASES[case])
        for name in ("registrations", "aid", "activities", "kpis")
        for case in ("all time", "february 2022", "march 2022")
    }


@pytest.fixture(scope="module")
async def merged(infra: Infra) -> AsyncIterator[Merged]:
    plan = scenario()
    async with reporting_sandbox(infra) as sandbox, reporting_api(sandbox) as http:
        state = Merged(sandbox=sandbox, http=http, records=[], scenario=plan)
        await state.publish(plan.first)
        state.after_first = await _snapshot(state)
        await state.publish(plan.late)
        yield state


async def projection_checksums(sandbox: Sandbox) -> dict[str, str]:
    """The sandbox's checksums of the four projections, the changes and the merges kept."""
    kept = {"registration_changes": "returnee_id, field", "merges": "returnee_id"}
    return await table_checksums(sandbox, {**PROJECTION_KEYS, **kept})


# ---- the reports, compared with the oracle ------------------------------------------------------


CASES: dict[str, dict[str, str]] = {
    "all time": {},
    "february 2022": FEBRUARY_2022,
    "march 2022": MARCH_2022,
    "gao": {"centre": "gao"},
    "bamako, first half of 2024": {"centre": "bamako", "from": "2024-01-01", "to": "2024-06-30"},
    "aged 45 and over": {"age_group": "45+"},
    "medical need": {"vulnerability": "medical_need"},
    "men from ly": {"sex": "male", "host_country": "ly"},
}


@pytest.mark.parametrize("name", list(CASES))
async def test_reports_count_each_person_once_as_the_merges_leave_them(
    merged: Merged, name: str
) -> None:
    params = CASES[name]
    plan = merged.scenario
    oracle = Oracle(expected_history([*plan.first, *plan.late]))

    for report in ("registrations", "registrations-monthly", "aid", "activities", "kpis"):
        assert_as_oracle(report, await merged.report(report, params), oracle, oracle_query(params))


async def test_before_the_late_events_the_reports_showed_what_had_been_read(
    merged: Merged,
) -> None:
    # Merges read before a registration, before the merged registration's aid, or before the
    # middle link of a chain: what was read counted as the oracle says, nothing was lost.
    oracle = Oracle(expected_history(merged.scenario.first))

    for (name, case), body in merged.after_first.items():
        assert_as_oracle(name, body, oracle, oracle_query(CASES[case]))


async def test_the_merges_change_the_figures(merged: Merged) -> None:
    # Guards the oracle comparisons above: without the merges, the reports would differ.
    plan = merged.scenario
    unmerged = Oracle(expected_history(e for e in [*plan.first, *plan.late] if not _is_merge(e)))

    total = (await merged.report("registrations", {}))["total"]["people"]

    assert unmerged.registrations_report(Query())["total"]["people"] - total == len(
        {m.returnee_id for m in plan.merges}
    )


def _is_merge(event: AnyEvent) -> bool:
    return isinstance(event, ReturneeMerged)


async def test_a_merge_leaves_one_person_in_reporting(merged: Merged) -> None:
    """The acceptance: A and B registered (B weakly matching A), aid granted to B, B merged
    into A: one person for the pair's period, A counted as aided, on time by A's arrival."""
    before = merged.after_first
    registrations = await merged.report("registrations", MARCH_2022)
    kpis = await merged.report("kpis", MARCH_2022)
    aid_given = await merged.report("aid", MARCH_2022)
    launched = await merged.report("activities", APRIL_2022)

    # Before the merge was read: two people, B alone aided.
    assert before[("registrations", "march 2022")]["total"]["people"] == 2
    assert before[("kpis", "march 2022")]["cohort"]["people"] == 2
    assert before[("kpis", "march 2022")]["funnel"][1]["people"] == 1
    # After: one person, A, in Gao; B's aid and participation are A's.
    assert registrations["total"]["people"] == 1
    assert registrations["breakdowns"]["reception_centre"] == [
        {"value": "gao", "people": 1, "small_cell": True}
    ]
    assert kpis["cohort"]["people"] == 1
    assert [stage["people"] for stage in kpis["funnel"]] == [1, 1, 1]
    assert kpis["immediate_assistance_within_72h"]["people"] == 1
    assert kpis["reintegration_aid"]["people"] == 1
    assert kpis["launched_activity"]["people"] == 1
    assert kpis["median_hours_to_first_aid"]["hours"] == pytest.approx(34.0)
    assert [c["value"] for c in kpis["by_centre"]] == ["gao"]
    assert (aid_given["total"]["aids"], aid_given["total"]["people"]) == (1, 1)
    assert (launched["total"]["activities"], launched["total"]["participants"]) == (1, 1)


async def test_a_chain_ends_with_everything_under_its_first_registration(merged: Merged) -> None:
    before = merged.after_first
    registrations = await merged.report("registrations", FEBRUARY_2022)
    kpis = await merged.report("kpis", FEBRUARY_2022)
    period = "february 2022"

    # Only X into B read: A and B counted, B with X's aid, on time by B's arrival.
    assert before[("registrations", period)]["total"]["people"] == 2
    assert before[("kpis", period)]["funnel"][1]["people"] == 1
    assert before[("kpis", period)]["immediate_assistance_within_72h"]["people"] == 1
    assert before[("kpis", period)]["median_hours_to_first_aid"]["hours"] == pytest.approx(54.0)
    # B into A and X into A read: A alone, aided 78 hours after A's arrival: not on time.
    assert registrations["total"]["people"] == 1
    assert kpis["cohort"]["people"] == 1
    assert kpis["funnel"][1]["people"] == 1
    assert kpis["immediate_assistance_within_72h"]["people"] == 0
    assert kpis["median_hours_to_first_aid"]["hours"] == pytest.approx(78.0)


async def test_redelivered_and_superseded_merges_change_nothing(merged: Merged) -> None:
    before = await projection_checksums(merged.sandbox)
    duplicates_before = await merged.duplicates()
    merge_topic = merged.sandbox.topics["returnee.merged"]
    redelivered = [r for r in merged.records if r[0] == merge_topic]
    plan = merged.scenario

    await merged.sandbox.produce(redelivered)
    # Published again under new event ids, so only the kept merges can refuse them: each is
    # the merge kept for its registration, or one a later decision replaced (X into B).
    await merged.publish([*plan.merges, *plan.superseded])
    await eventually(
        merged.duplicates,
        until=lambda now: now - duplicates_before >= len(redelivered),
        what=f"{len(redelivered)} more duplicates skipped (from {duplicates_before})",
    )

    assert len(redelivered) == len(plan.merges)
    assert await projection_checksums(merged.sandbox) == before


@pytest.mark.parametrize("workers", [1, 3])
async def test_a_rebuild_gives_the_same_projection(merged: Merged, workers: int) -> None:
    """The five topics replayed side by side, so merges, registrations, aid and corrections
    meet in other orders than the live consumer saw."""
    before = await projection_checksums(merged.sandbox)
    plan = merged.scenario
    expected = Oracle(expected_history([*plan.first, *plan.late])).kpis_report(oracle_query({}))
    # A merge that never happened: the rebuild must forget it with the rest.
    await _record_bogus_merge(merged.sandbox, plan.march)

    returncode, summary = await merged.sandbox.rebuild(workers=workers)

    assert returncode == 0
    assert summary["records"] >= merged.produced
    assert await projection_checksums(merged.sandbox) == before
    assert before["merges"].startswith(f"{len({m.returnee_id for m in plan.merges})}:")
    assert await inbox_count(merged.sandbox) == merged.produced
    kpis = await merged.report("kpis", {})
    assert kpis["cohort"] == expected["cohort"]
    assert kpis["funnel"] == expected["funnel"]


async def _record_bogus_merge(sandbox: Sandbox, pair: MarchPair) -> None:
    conn = await sandbox.connect()
    try:
        await conn.execute(
            "INSERT INTO merges VALUES ($1, $2, $3, $2)",
            pair.a.returnee_id,
            pair.b.returnee_id,
            DECIDED,
        )
    finally:
        await conn.close()


# ---- two transactions at once -----------------------------------------------------------------


@pytest.mark.parametrize("first", ["x into b", "b into a"])
async def test_two_links_of_a_chain_applied_at_the_same_moment_meet(
    infra: Infra, first: str
) -> None:
    """Two partitions of the merge topic (or a rebuild beside the live consumer) may apply X
    into B and B into A at once. Whichever goes second must see what the first commits, or X
    would stay counted as B; here the second starts while the first is open."""
    rng = random.Random(11)
    a, b, x = (registration(rng, date(2024, 2, day)) for day in (1, 2, 3))
    links = {"x into b": [merge(x, b, DECIDED)], "b into a": [merge(b, a, DECIDED)]}
    [second] = set(links) - {first}
    async with reporting_sandbox(infra) as sandbox:
        await apply_at_the_same_moment(sandbox, links[first], links[second], what=second)
        conn = await sandbox.connect()
        try:
            rows = await conn.fetch("SELECT returnee_id, counted_as FROM merges")
        finally:
            await conn.close()
    counted = {row["returnee_id"]: row["counted_as"] for row in rows}

    assert counted == {x.returnee_id: a.returnee_id, b.returnee_id: a.returnee_id}


async def test_aid_applied_beside_its_merge_is_counted_as_the_person_kept(infra: Infra) -> None:
    """Aid for B is applied while B's merge is still uncommitted: it takes no lock and waits
    for nothing, as no merge rewrites an aid row; once both committed, the aid is A's."""
    rng = random.Random(12)
    a, b = registration(rng, date(2024, 2, 1)), registration(rng, date(2024, 2, 2))
    care = aid(rng, b.returnee_id, _at(date(2024, 2, 1), 30), "immediate")
    async with reporting_sandbox(infra) as sandbox:
        await _apply(sandbox, [a, b])
        granted_while_merging = await apply_at_the_same_moment(
            sandbox, [merge(b, a, DECIDED)], [care], what="the aid"
        )
        async with reporting_api(sandbox) as http:
            response = await http.get("/reports/kpis", params=FEBRUARY_2024)
    kpis = response.json()

    assert granted_while_merging
    assert response.status_code == 200
    assert kpis["cohort"]["people"] == 1
    assert kpis["immediate_assistance_within_72h"]["people"] == 1
    assert kpis["median_hours_to_first_aid"]["hours"] == pytest.approx(30.0)


FEBRUARY_2024 = {"from": "2024-02-01", "to": "2024-02-29"}


async def _apply(sandbox: Sandbox, events: Sequence[AnyEvent]) -> None:
    conn = await sandbox.connect()
    try:
        async with conn.transaction():
            await apply_rows(PgProjectionStore(conn), rows_for(events))
    finally:
        await conn.close()
