"""Corrections and transfers (``returnee.updated``) in the reports, through the real Kafka and
PostgreSQL: a correction moves a person's counts, a transfer from Gao to Bamako moves the person
and their aid and activities from Gao's figures to Bamako's, an update read before its
registration is applied when the registration arrives, older or redelivered updates change
nothing, and a rebuild from the topics gives the very same projection.

The expected reports come from the oracle of test_reporting_history, run over the
registrations as the updates leave them (applied here in plain Python, in version order).
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from test_reporting_history import (
    FIRST_ARRIVAL,
    HOST_COUNTRIES,
    LAST_ARRIVAL,
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
    Event,
    MaliRegion,
    ReceptionCentre,
    ReturneeRegistered,
    ReturneeUpdated,
    ReturnType,
    Sex,
    Vulnerability,
    new_data_key,
)
from retour_contracts.sealing import UPDATED, seal_personal
from retour_test_infra import Infra, eventually

pytestmark = pytest.mark.integration

RETURNEES = 400
MAY_2022 = {"from": "2022-05-01", "to": "2022-05-31"}


async def projection_checksums(sandbox: Sandbox) -> dict[str, str]:
    """The sandbox's checksums of the four projections, and of the changes kept."""
    changes = {"registration_changes": "returnee_id, field"}
    return await table_checksums(sandbox, {**PROJECTION_KEYS, **changes})


# ---- corrections, and the registrations as they leave them ---------------------------------------


def correction(
    person: ReturneeRegistered,
    version: int,
    *,
    phone: str | None = None,
    **facts: Any,
) -> ReturneeUpdated:
    """An update of ``person``; with ``phone``, a personal change too, sealed under a key
    reporting never has."""
    changed = list(facts)
    sealed = None
    if phone is not None:
        changed.append("personal.phone")
        personal = person.personal.model_copy(update={"phone": phone})
        sealed = seal_personal(
            personal, new_data_key(), event_id=str(uuid4()), event_name=UPDATED
        ).model_dump(mode="json")
    return ReturneeUpdated.model_validate(
        {
            "returnee_id": str(person.returnee_id),
            "version": version,
            "updated_at": datetime(2024, 7, 1, tzinfo=UTC) + timedelta(hours=version),
            "updated_by": "agent.test",
            "reason": "relocation" if "reception_centre" in facts else "data_entry_error",
            "changed": changed,
            "facts": facts,
            "sealed_personal": sealed,
        }
    )


def _random_facts(rng: random.Random, person: ReturneeRegistered) -> dict[str, Any]:
    span = (LAST_ARRIVAL - FIRST_ARRIVAL).days
    values: dict[str, Callable[[], Any]] = {
        "reception_centre": lambda: rng.choice(list(ReceptionCentre)),
        "age_years": lambda: rng.randint(0, 80),
        "sex": lambda: rng.choice(list(Sex)),
        "vulnerabilities": lambda: rng.sample(list(Vulnerability), k=rng.choice([0, 1, 2])),
        "arrival_date": lambda: FIRST_ARRIVAL + timedelta(days=rng.randint(0, span)),
        "host_country": lambda: rng.choice(HOST_COUNTRIES),
        "region_of_origin": lambda: rng.choice(list(MaliRegion)[:12]),
        "return_type": lambda: rng.choice(list(ReturnType)),
        "household_size": lambda: rng.randint(1, 9),
        "preferred_language": lambda: rng.choice(["fr", "bm"]),
    }
    chosen = rng.sample(list(values), k=rng.choice([1, 1, 2, 3]))
    return {name: values[name]() for name in chosen}


def seeded_corrections(history: History, *, seed: int) -> list[ReturneeUpdated]:
    """Corrections of about a third of the people, one to three versions each, of any fact a
    registration can change, some with a personal change beside them."""
    rng = random.Random(seed)
    updates = []
    for person in history.registrations:
        if rng.random() < 0.33:
            for version in range(2, 2 + rng.choice([1, 1, 2, 3])):
                phone = "+22376000000" if rng.random() < 0.2 else None
                facts = _random_facts(rng, person)
                updates.append(correction(person, version, phone=phone, **facts))
    return updates


def as_corrected(
    registrations: Iterable[ReturneeRegistered], updates: Iterable[ReturneeUpdated]
) -> list[ReturneeRegistered]:
    """The registrations as their updates leave them: each update's facts in version order."""
    by_person: dict[UUID, list[ReturneeUpdated]] = defaultdict(list)
    for update in updates:
        by_person[update.returnee_id].append(update)
    corrected = []
    for person in registrations:
        for update in sorted(by_person[person.returnee_id], key=lambda u: u.version):
            facts = update.facts.model_dump(exclude_none=True)
            person = person.model_copy(update=facts)
        corrected.append(person)
    return corrected


# ---- the scenario -------------------------------------------------------------------------------


@dataclass
class GaoCohort:
    """Six people registered in Gao in May 2022, aided 30 hours after arriving; the first three
    launched an activity together. The first four are transferred to Bamako (the first two
    before their registration is even read); the fifth's age is corrected to 45 or over."""

    people: list[ReturneeRegistered]
    events: list[Event]
    updates: list[ReturneeUpdated]

    @classmethod
    def make(cls, rng: random.Random) -> GaoCohort:
        arrival = date(2022, 5, 10)
        people = [
            registration(rng, arrival, reception_centre=ReceptionCentre.GAO, age_years=30)
            for _ in range(6)
        ]
        arrived = datetime(2022, 5, 10, tzinfo=UTC)
        care = [aid(rng, p.returnee_id, arrived + timedelta(hours=30), "immediate") for p in people]
        joint = activity(rng, [p.returnee_id for p in people[:3]], arrived + timedelta(days=40))
        updates = [correction(p, 2, reception_centre=ReceptionCentre.BAMAKO) for p in people[:4]]
        updates.append(correction(people[4], 2, age_years=52))
        return cls(people, [*care, joint], updates)

    @property
    def read_late(self) -> list[ReturneeRegistered]:
        return self.people[:2]


@dataclass
class Corrected(Reporting[AnyEvent]):
    registrations: list[ReturneeRegistered]
    others: list[Event]  # aid and activities
    updates: list[ReturneeUpdated]
    late: list[ReturneeRegistered]
    before_late: dict[str, Any] = field(default_factory=dict)

    def history(self) -> History:
        history = History()
        history.extend([*as_corrected(self.registrations, self.updates), *self.others])
        return history


@pytest.fixture(scope="module")
async def corrected(infra: Infra) -> AsyncIterator[Corrected]:
    rng = random.Random(41)
    history = seeded_history(RETURNEES, seed=17)
    updates = seeded_corrections(history, seed=18)
    gao = GaoCohort.make(rng)
    registrations = [*history.registrations, *gao.people]
    updates += gao.updates
    updates += _moved_twice(rng, history.registrations[:8])
    # Transferred people whose updates are all read before their registration.
    transferred = {u.returnee_id for u in updates if u.is_transfer}
    late = [p for p in history.registrations if p.returnee_id in transferred][:25]
    late += gao.read_late
    late_ids = {p.returnee_id for p in late}
    async with reporting_sandbox(infra) as sandbox, reporting_api(sandbox) as http:
        state = Corrected(
            sandbox=sandbox,
            http=http,
            registrations=registrations,
            others=[*history.aid, *history.activities, *gao.events],
            updates=updates,
            records=[],
            late=late,
        )
        first: list[AnyEvent] = [
            *(p for p in registrations if p.returnee_id not in late_ids),
            *state.others,
            *updates,
        ]
        random.Random(7).shuffle(first)
        await state.publish(first)
        state.before_late = {
            "kpis": await state.report("kpis", MAY_2022),
            "registrations": await state.report("registrations", {}),
            "kept": await _changes_kept_for(sandbox, late_ids),
        }
        await state.publish(late)
        yield state


def _moved_twice(rng: random.Random, people: list[ReturneeRegistered]) -> list[ReturneeUpdated]:
    """Transferred, then transferred again: the later version must stay, whatever comes after."""
    updates = []
    for person in people:
        first, second = rng.sample([c for c in ReceptionCentre if c != person.reception_centre], 2)
        updates += [
            correction(person, 7, reception_centre=first, sex=Sex.MALE),
            correction(person, 8, reception_centre=second, vulnerabilities=[]),
        ]
    return updates


async def _changes_kept_for(sandbox: Sandbox, people: set[UUID]) -> dict[str, int]:
    conn = await sandbox.connect()
    try:
        registered = await conn.fetchval(
            "SELECT count(*) FROM registrations WHERE returnee_id = ANY($1::uuid[])", list(people)
        )
        waiting = await conn.fetchval(
            "SELECT count(DISTINCT returnee_id) FROM registration_changes"
            " WHERE returnee_id = ANY($1::uuid[])",
            list(people),
        )
    finally:
        await conn.close()
    return {"registered": registered, "waiting": waiting}


# ---- the tests ----------------------------------------------------------------------------------


CASES = {
    "all time": {},
    "gao": {"centre": "gao"},
    "bamako, first half of 2024": {"centre": "bamako", "from": "2024-01-01", "to": "2024-06-30"},
    "aged 45 and over": {"age_group": "45+"},
    "medical need": {"vulnerability": "medical_need"},
    "men from ly": {"sex": "male", "host_country": "ly"},
    "may 2022": MAY_2022,
}


@pytest.mark.parametrize("name", list(CASES))
async def test_reports_count_people_as_their_corrections_leave_them(
    corrected: Corrected, name: str
) -> None:
    params = CASES[name]
    oracle = Oracle(corrected.history())

    for report in ("registrations", "registrations-monthly", "aid", "activities", "kpis"):
        assert_as_oracle(
            report, await corrected.report(report, params), oracle, oracle_query(params)
        )


async def test_the_corrections_change_the_figures(corrected: Corrected) -> None:
    # Guards the oracle comparison above: without the updates, the reports would differ.
    uncorrected = History()
    uncorrected.extend([*corrected.registrations, *corrected.others])

    by_centre = (await corrected.report("registrations", {}))["breakdowns"]["reception_centre"]

    expected = Oracle(uncorrected).registrations_report(Query())["breakdowns"]
    assert by_centre != expected["reception_centre"]


async def test_a_transfer_from_gao_to_bamako_moves_the_person_their_aid_and_activity(
    corrected: Corrected,
) -> None:
    kpis = await corrected.report("kpis", MAY_2022)
    registrations = await corrected.report("registrations", MAY_2022)
    aid_in = {c: await corrected.report("aid", {**MAY_2022, "centre": c}) for c in CENTRES}
    launched = {c: await corrected.report("activities", {"centre": c, **_LAUNCH}) for c in CENTRES}

    assert {c["value"]: c["cohort"]["people"] for c in kpis["by_centre"]} == {
        "bamako": 4,
        "gao": 2,
    }
    assert {
        c["value"]: c["immediate_assistance_within_72h"]["people"] for c in kpis["by_centre"]
    } == {"bamako": 4, "gao": 2}
    assert registrations["breakdowns"]["reception_centre"] == [
        {"value": "bamako", "people": 4, "small_cell": True},
        {"value": "gao", "people": 2, "small_cell": True},
    ]
    assert {c: (r["total"]["aids"], r["total"]["people"]) for c, r in aid_in.items()} == {
        "bamako": (4, 4),
        "gao": (2, 2),
    }
    assert {c: launched[c]["total"]["participants"] for c in CENTRES} == {"bamako": 3, "gao": 0}
    assert {b["value"]: b["people"] for b in registrations["breakdowns"]["age_group"]} == {
        "18-44": 5,
        "45+": 1,
    }


CENTRES = ("bamako", "gao")
# The Gao cohort's activity was launched 40 days after arrival (June 2022).
_LAUNCH = {"from": "2022-06-01", "to": "2022-06-30"}


async def test_updates_read_before_their_registration_wait_and_then_apply(
    corrected: Corrected,
) -> None:
    before = corrected.before_late
    late_ids = {p.returnee_id for p in corrected.late}
    oracle = Oracle(corrected.history())
    expected_late = [r for r in oracle.registrations if r.returnee_id in late_ids]

    kpis_now = await corrected.report("kpis", MAY_2022)
    rows = await _registration_rows(corrected.sandbox, late_ids)

    # Nothing of the late people counted while only their updates were there...
    assert before["kept"] == {"registered": 0, "waiting": len(late_ids)}
    assert {c["value"]: c["cohort"]["people"] for c in before["kpis"]["by_centre"]} == {
        "bamako": 2,
        "gao": 2,
    }
    # ...and, once registered, they count as their updates say.
    assert {c["value"]: c["cohort"]["people"] for c in kpis_now["by_centre"]} == {
        "bamako": 4,
        "gao": 2,
    }
    assert rows == {
        r.returnee_id: (r.reception_centre, r.sex, r.arrival_date) for r in expected_late
    }
    registered_in = {p.returnee_id: p.reception_centre for p in corrected.late}
    assert any(r.reception_centre != registered_in[r.returnee_id] for r in expected_late)


async def _registration_rows(sandbox: Sandbox, people: set[UUID]) -> dict[UUID, tuple[Any, ...]]:
    conn = await sandbox.connect()
    try:
        rows = await conn.fetch(
            "SELECT returnee_id, reception_centre, sex, arrival_date FROM registrations"
            " WHERE returnee_id = ANY($1::uuid[])",
            list(people),
        )
    finally:
        await conn.close()
    return {r["returnee_id"]: (r["reception_centre"], r["sex"], r["arrival_date"]) for r in rows}


async def test_older_and_redelivered_updates_change_nothing(corrected: Corrected) -> None:
    before = await projection_checksums(corrected.sandbox)
    duplicates_before = await corrected.duplicates()
    update_topic = corrected.sandbox.topics[UPDATED]
    redelivered = [r for r in corrected.records if r[0] == update_topic]
    # Published again under new event ids, so only the version guard can refuse them: each is
    # older than, or the same version as, what was applied for each of its fields (among them
    # the first of two transfers, version 7, whose centre version 8 replaced).
    older = [u for u in corrected.updates if u.version < 8]

    await corrected.sandbox.produce(redelivered)
    await corrected.publish(older)
    await eventually(
        corrected.duplicates,
        until=lambda now: now - duplicates_before >= len(redelivered),
        what=f"{len(redelivered)} more duplicates skipped (from {duplicates_before})",
    )

    assert any(u.version == 7 and u.is_transfer for u in older)
    assert await projection_checksums(corrected.sandbox) == before


@pytest.mark.parametrize("first", ["registration", "update"])
async def test_a_registration_and_its_update_applied_at_the_same_moment_meet(
    infra: Infra, first: str
) -> None:
    """Two topics, so two transactions may apply a person's registration and update at once
    (other partitions, other members, a rebuild beside the live consumer). Whichever goes
    second must see what the first commits; here the second starts while the first is open."""
    person = registration(random.Random(5), date(2024, 2, 1), reception_centre=ReceptionCentre.GAO)
    events: dict[str, list[AnyEvent]] = {
        "registration": [person],
        "update": [correction(person, 2, reception_centre=ReceptionCentre.BAMAKO)],
    }
    [second] = set(events) - {first}
    async with reporting_sandbox(infra) as sandbox:
        await apply_at_the_same_moment(sandbox, events[first], events[second], what=f"the {second}")
        conn = await sandbox.connect()
        try:
            centre = await conn.fetchval(
                "SELECT reception_centre FROM registrations WHERE returnee_id = $1",
                person.returnee_id,
            )
        finally:
            await conn.close()

    assert centre == "bamako"


@pytest.mark.parametrize("workers", [1, 3])
async def test_a_rebuild_gives_the_same_projection(corrected: Corrected, workers: int) -> None:
    """The topics replayed side by side, so updates and registrations meet in other orders."""
    before = await projection_checksums(corrected.sandbox)
    expected = Oracle(corrected.history()).kpis_report(oracle_query(MAY_2022))

    returncode, summary = await corrected.sandbox.rebuild(workers=workers)

    assert returncode == 0
    assert summary["records"] >= corrected.produced
    assert await projection_checksums(corrected.sandbox) == before
    assert await inbox_count(corrected.sandbox) == corrected.produced
    kpis = await corrected.report("kpis", MAY_2022)
    assert kpis["by_centre"] == expected["by_centre"]
