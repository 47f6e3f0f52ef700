"""Issue 16, reporting: expected arrivals announced by a manifest, through the real Kafka and
PostgreSQL. Per wave and centre, the report gives the people expected against those who
arrived (a registration confirmed them; some at another centre), those still awaited, lapsed or
withdrawn, and the time from arrival (the start of the arrival day, as the KPIs count) to the
first immediate aid, never from when the registration was recorded.

The registrations, merges, aid and closures are read first, the announcements after them (a
registration read before the expectation it confirmed, a closure before its announcement): the
figures must be exactly those worked out by hand below. A person registered twice and merged
counts once as arrived; announcements and closures read again change nothing; a rebuild gives
the same tables and the same report; no table holds anything personal.
"""

from __future__ import annotations

import csv
import io
import random
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import UUID

import pytest
from test_reporting_history import CANARY, aid, registration
from test_reporting_merges import merge
from test_reporting_sandbox import (
    Reporting,
    Sandbox,
    inbox_count,
    reporting_api,
    reporting_sandbox,
    table_checksums,
)

from retour_contracts import (
    ExpectationClosure,
    ExpectedArrivalClosed,
    ReceptionCentre,
    ReturneeExpected,
    ReturneeRegistered,
    personal_field_names,
)
from retour_contracts.examples import example_for
from retour_kit.auth import issue_dev_token
from retour_test_infra import Infra

pytestmark = pytest.mark.integration

PORT_BOUET = UUID(int=0x16_0001, version=4)
NIAMEY = UUID(int=0x16_0002, version=4)
LANDED = date(2023, 3, 10)
LATER = date(2023, 4, 2)
MARCH = {"from": "2023-03-01", "to": "2023-03-31"}
TABLES = {
    "registrations": "returnee_id",
    "merges": "returnee_id",
    "aid": "aid_id",
    "expected_arrivals": "expected_id",
    "expectation_closures": "expected_id",
}


def _at(day: date, hours: float) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC) + timedelta(hours=hours)


def _expected_id(wave: UUID, n: int) -> UUID:
    return UUID(int=(wave.int << 16) + n, version=4)


def announced(wave: UUID, n: int, *, size: int, centre: str, day: date) -> ReturneeExpected:
    return example_for(
        ReturneeExpected,
        expected_id=_expected_id(wave, n),
        wave_id=wave,
        wave_name="Évacuation Port-Bouët, vol 2" if wave == PORT_BOUET else "Niamey, convoi 7",
        wave_size=size,
        reception_centre=centre,
        expected_date=day,
        host_country="CI" if wave == PORT_BOUET else "NE",
        announced_at=_at(day - timedelta(days=2), 16),
        age_years=30 + n,
        personal={"family_name": f"Traore{CANARY}", "passport_number": f"AA{CANARY}"},
    )


def closed(wave: UUID, n: int, reason: ExpectationClosure) -> ExpectedArrivalClosed:
    return example_for(
        ExpectedArrivalClosed,
        expected_id=_expected_id(wave, n),
        wave_id=wave,
        reception_centre="bamako",
        reason=reason,
        closed_at=_at(LANDED + timedelta(days=30), 0.1),
    )


# ---- the waves ---------------------------------------------------------------------------------


@dataclass
class Waves:
    """Port-Bouët: 12 people announced at Bamako for 10 March 2023, all of them arrived that day
    unless said otherwise.

    - entries 1 and 2 registered at Bamako, entry 7 at Kayes (elsewhere);
    - entry 3 registered at Bamako five days late, its aid recorded with when it was granted,
      before the registration: the clock starts at the arrival day, not at the registration;
    - entry 4 registered at Bamako; the same person was on the manifest again (entry 12) and
      registered a second time (giving the next day as arrival day), confirming it, then
      merged into the first: one person, whose clock starts at the first one's arrival day;
    - entry 5 confirmed by a second registration of someone who arrived the day before and was
      registered then, not linked, merged into that earlier one: the clock starts at the
      earlier registration's arrival day;
    - entry 6 registered, given reintegration aid only (no immediate care);
    - entry 8 withdrawn, entry 9 lapsed, entries 10 and 11 awaited.

    First immediate aid, in hours from the start (UTC) of the arrival day of the person's kept
    registration: 1 (11, aid again at 59), 2 (20), 3 (80), 4 (42, on the second registration;
    18 from its own arrival day), 5 (30; 6 from the confirming registration's arrival day),
    7 (33). So 6 people cared for, 5 of them within 72 hours, median (30 + 33) / 2 = 31.5.
    Counted from when the kept registrations were recorded instead, entry 3 would be at -40
    hours, all 6 within 72 hours, and the median 15.

    Niamey: 5 people announced at Gao for 2 April 2023, none arrived yet.
    """

    announcements: list[ReturneeExpected]
    registrations: list[ReturneeRegistered]
    others: list[Any]
    """Merges, aid and closures."""


def waves() -> Waves:
    rng = random.Random(1600)
    day_before, day_after = LANDED - timedelta(days=1), LANDED + timedelta(days=1)

    def registered(
        n: int | None,
        hours: float,
        centre: ReceptionCentre = ReceptionCentre.BAMAKO,
        arrived: date = LANDED,
    ) -> ReturneeRegistered:
        """Arrived on ``arrived``, registered ``hours`` after the start of that day."""
        return registration(
            rng,
            arrived,
            reception_centre=centre,
            registered_at=_at(arrived, hours),
            expected_id=None if n is None else _expected_id(PORT_BOUET, n),
        )

    r1, r2, r3 = registered(1, 9), registered(2, 10), registered(3, 120)
    r4, r4_again = registered(4, 12), registered(12, 14, arrived=day_after)
    r5_first, r5_again = registered(None, 8, arrived=day_before), registered(5, 15)
    r6, r7 = registered(6, 16), registered(7, 13, ReceptionCentre.KAYES)
    registrations = [r1, r2, r3, r4, r4_again, r5_first, r5_again, r6, r7]

    def immediate(person: ReturneeRegistered, at: datetime) -> Any:
        return aid(rng, person.returnee_id, at, "immediate")

    others: list[Any] = [
        immediate(r1, _at(LANDED, 11)),
        immediate(r1, _at(LANDED, 59)),
        immediate(r2, _at(LANDED, 20)),
        immediate(r3, _at(LANDED, 80)),
        immediate(r4_again, _at(LANDED, 42)),
        immediate(r5_first, _at(day_before, 30)),
        immediate(r7, _at(LANDED, 33)),
        aid(rng, r6.returnee_id, _at(LANDED, 40), "reintegration"),
        merge(r4_again, r4, _at(LANDED + timedelta(days=3), 9)),
        merge(r5_again, r5_first, _at(LANDED + timedelta(days=3), 10)),
        closed(PORT_BOUET, 8, ExpectationClosure.WITHDRAWN),
        closed(PORT_BOUET, 9, ExpectationClosure.LAPSED),
    ]
    announcements = [
        announced(PORT_BOUET, n, size=12, centre="bamako", day=LANDED) for n in range(1, 13)
    ]
    announcements += [announced(NIAMEY, n, size=5, centre="gao", day=LATER) for n in range(1, 6)]
    return Waves(announcements, registrations, others)


PORT_BOUET_ROW = {
    "wave_id": str(PORT_BOUET),
    "wave_name": "Évacuation Port-Bouët, vol 2",
    "wave_size": {"people": 12, "small_cell": False},
    "reception_centre": "bamako",
    "expected_date": "2023-03-10",
    "host_country": "CI",
    "expected": {"people": 12, "small_cell": False},
    "arrived": {"people": 7, "small_cell": False},
    "arrived_elsewhere": {"people": 1, "small_cell": True},
    "awaited": {"people": 2, "small_cell": True},
    "closed_lapsed": {"people": 1, "small_cell": True},
    "closed_withdrawn": {"people": 1, "small_cell": True},
    "immediate_care_within_72h": {"people": 5, "of": 7, "share": 0.7143, "small_cell": False},
    "median_hours_to_immediate_care": {"hours": 31.5, "people": 6, "small_cell": False},
}
NIAMEY_COUNTS = {
    "expected": {"people": 5, "small_cell": False},
    "arrived": {"people": 0, "small_cell": False},
    "arrived_elsewhere": {"people": 0, "small_cell": False},
    "awaited": {"people": 5, "small_cell": False},
    "closed_lapsed": {"people": 0, "small_cell": False},
    "closed_withdrawn": {"people": 0, "small_cell": False},
    "immediate_care_within_72h": {"people": 0, "of": 0, "share": None, "small_cell": False},
    "median_hours_to_immediate_care": {"hours": None, "people": 0, "small_cell": False},
}


# ---- the service over the waves ----------------------------------------------------------------


@dataclass
class Expectations:
    reporting: Reporting[Any]
    before_announcements: dict[str, Any]
    """The report once everything but the announcements was read."""

    @property
    def sandbox(self) -> Sandbox:
        return self.reporting.sandbox

    async def report(self, params: dict[str, str]) -> dict[str, Any]:
        return await self.reporting.report("expected-arrivals", params)


@pytest.fixture(scope="module")
async def expectations(infra: Infra) -> AsyncIterator[Expectations]:
    plan = waves()
    async with reporting_sandbox(infra) as sandbox, reporting_api(sandbox) as http:
        reporting: Reporting[Any] = Reporting(sandbox=sandbox, http=http, records=[])
        await reporting.publish([*plan.registrations, *plan.others])
        before = await reporting.report("expected-arrivals", {})
        await reporting.publish(plan.announcements)
        yield Expectations(reporting, before)


async def test_each_wave_shows_expected_against_arrived_and_the_time_to_care(
    expectations: Expectations,
) -> None:
    body = await expectations.report({})

    [port_bouet, niamey] = body["waves"]
    assert port_bouet == PORT_BOUET_ROW
    assert {k: niamey[k] for k in NIAMEY_COUNTS} == NIAMEY_COUNTS
    assert (niamey["reception_centre"], niamey["expected_date"]) == ("gao", "2023-04-02")
    assert body["total"]["expected"]["people"] == 17
    assert body["total"]["awaited"]["people"] == 7
    assert body["total"]["arrived"]["people"] == 7
    assert body["total"]["median_hours_to_immediate_care"]["hours"] == 31.5


async def test_registrations_read_before_their_announcements_count_once_these_are_read(
    expectations: Expectations,
) -> None:
    before = expectations.before_announcements

    assert before["waves"] == []
    assert before["total"]["expected"]["people"] == 0
    assert before["total"]["arrived"]["people"] == 0


async def test_the_period_bounds_the_expected_date_and_the_centre_is_the_announced_one(
    expectations: Expectations,
) -> None:
    march = await expectations.report(MARCH)
    gao = await expectations.report({"centre": "gao"})
    kayes = await expectations.report({"centre": "kayes"})

    assert [w["wave_id"] for w in march["waves"]] == [str(PORT_BOUET)]
    assert march["period"] == {"from": "2023-03-01", "to": "2023-03-31"}
    assert [w["wave_id"] for w in gao["waves"]] == [str(NIAMEY)]
    assert gao["filters"] == {"reception_centre": "gao"}
    assert kayes["waves"] == []  # registered there, announced at Bamako


async def test_the_csv_hides_small_cells(expectations: Expectations) -> None:
    response = await expectations.reporting.http.get("/reports/expected-arrivals.csv", params=MARCH)
    rows = {(r["wave_id"], r["indicator"]): r for r in csv.DictReader(io.StringIO(response.text))}
    wave = str(PORT_BOUET)

    assert response.status_code == 200
    assert response.headers["content-disposition"] == (
        'attachment; filename="expected-arrivals_2023-03-01_2023-03-31.csv"'
    )
    assert rows[(wave, "arrived")]["people"] == "7"
    assert rows[(wave, "awaited")] == {
        "wave_id": wave,
        "wave_name": "Évacuation Port-Bouët, vol 2",
        "reception_centre": "bamako",
        "expected_date": "2023-03-10",
        "host_country": "CI",
        "indicator": "awaited",
        "people": "",
        "of": "",
        "value": "",
        "suppressed": "true",
    }
    assert rows[(wave, "median_hours_to_immediate_care")]["value"] == "31.5"
    assert rows[(wave, "immediate_care_within_72h")]["value"] == "0.7143"


async def test_the_report_is_for_analysts_only(expectations: Expectations) -> None:
    registrar = issue_dev_token(expectations.sandbox.infra.jwt_secret, "registrar")
    http = expectations.reporting.http

    anonymous = await http.get("/reports/expected-arrivals", headers={"Authorization": ""})
    wrong_role = await http.get(
        "/reports/expected-arrivals.csv", headers={"Authorization": f"Bearer {registrar}"}
    )

    assert (anonymous.status_code, wrong_role.status_code) == (401, 403)


# ---- redelivery, rebuild, privacy --------------------------------------------------------------


async def test_announcements_and_closures_read_again_change_nothing(
    expectations: Expectations,
) -> None:
    before = await table_checksums(expectations.sandbox, TABLES)
    plan = waves()
    # Under new event ids: the same announcement and closure, each already kept.
    again: Sequence[Any] = [*plan.announcements[:3], *plan.others[-2:]]

    await expectations.reporting.publish(again)

    assert await table_checksums(expectations.sandbox, TABLES) == before
    assert (await expectations.report({}))["waves"][0] == PORT_BOUET_ROW


async def test_a_rebuild_gives_the_same_tables_and_report(expectations: Expectations) -> None:
    before = await table_checksums(expectations.sandbox, TABLES)
    report = await expectations.report({})
    conn = await expectations.sandbox.connect()
    try:  # rows no event made: the rebuild must forget them with the rest
        await conn.execute("UPDATE expectation_closures SET reason = 'lapsed'")
        await conn.execute("DELETE FROM expected_arrivals WHERE wave_id = $1", NIAMEY)
    finally:
        await conn.close()

    returncode, summary = await expectations.sandbox.rebuild(workers=1)

    assert returncode == 0
    assert summary["records"] >= expectations.reporting.produced
    assert await table_checksums(expectations.sandbox, TABLES) == before
    assert await inbox_count(expectations.sandbox) == expectations.reporting.produced
    assert await expectations.report({}) == report


async def test_no_table_keeps_anything_personal(expectations: Expectations) -> None:
    conn = await expectations.sandbox.connect()
    try:
        columns = await conn.fetch(
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE table_schema = $1",
            expectations.sandbox.schema,
        )
        tables = {row["table_name"] for row in columns}
        contents = {
            table: await conn.fetchval(
                f"SELECT coalesce(string_agg(t::text, '|'), '') FROM {table} t"  # noqa: S608
            )
            for table in tables
        }
    finally:
        await conn.close()
    forbidden = personal_field_names() | {"age_years", "sealed_personal", "ciphertext", "nonce"}

    assert {"expected_arrivals", "expectation_closures"} <= tables
    assert {r["column_name"] for r in columns} & forbidden == set()
    assert [table for table, text in contents.items() if CANARY in text] == []
