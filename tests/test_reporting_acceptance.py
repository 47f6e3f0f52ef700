"""Issue 6 acceptance: a seeded history of 1,000 returnees, consumed from Kafka by the service
as it runs, gives the reports an independent computation from the raw events gives; the
projections are idempotent, join events arriving in any order, hold no personal data, and a
rebuild from the topics recreates them exactly.
"""

from __future__ import annotations

import csv
import io
import json
import random
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client.parser import text_string_to_metric_families
from test_reporting_history import (
    CANARY,
    History,
    Oracle,
    Query,
    activity,
    aid,
    registration,
    seeded_history,
)
from test_reporting_sandbox import (
    Record,
    Reporting,
    amounts_as_decimals,
    inbox_count,
    oracle_query,
    reporting_api,
    reporting_sandbox,
    table_checksums,
    without_medians,
)

from retour_contracts import AidCategory, AidPhase, Event
from retour_contracts.catalog import DEFAULT_PARTITIONS
from retour_kit.auth import issue_dev_token
from retour_reporting.main import SERVICE as REPORTING
from retour_test_infra import Infra, eventually

pytestmark = pytest.mark.integration

RETURNEES = 1000
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@dataclass
class Seeded(Reporting[Event]):
    history: History
    timings: dict[str, float] = field(default_factory=dict)

    async def publish(self, events: Sequence[Event]) -> list[Record]:
        self.history.extend(events)
        return await super().publish(events)

    async def metrics(self) -> dict[str, float]:
        """Samples summed over labels other than the sandbox's group and topic."""
        text = (await self.http.get("/metrics")).text
        totals: dict[str, float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                totals[sample.name] = totals.get(sample.name, 0.0) + sample.value
        return totals

    async def uncommitted(self) -> dict[tuple[str, int], int]:
        """Records of each sandbox partition past the group's committed offset: what the
        consumer would read again if it rejoined now. Empty once it committed every record."""
        partitions = [
            TopicPartition(topic, partition)
            for topic in self.sandbox.topics.values()
            for partition in range(DEFAULT_PARTITIONS)
        ]
        admin = AIOKafkaAdminClient(bootstrap_servers=self.sandbox.infra.kafka_bootstrap)
        reader = AIOKafkaConsumer(bootstrap_servers=self.sandbox.infra.kafka_bootstrap)
        await admin.start()
        await reader.start()
        try:
            committed = await admin.list_consumer_group_offsets(self.sandbox.group)
            ends = await reader.end_offsets(partitions)
        finally:
            await reader.stop()
            await admin.close()
        at = {tp: meta.offset for tp, meta in committed.items()}
        return {
            (tp.topic, tp.partition): end - max(at.get(tp, 0), 0)
            for tp, end in ends.items()
            if end > max(at.get(tp, 0), 0)
        }

    async def lags(self) -> dict[tuple[str, str], float]:
        """``consumer_lag`` of the sandbox's group, by topic and partition."""
        text = (await self.http.get("/metrics")).text
        return {
            (sample.labels["topic"], sample.labels["partition"]): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == "consumer_lag" and sample.labels["group"] == self.sandbox.group
        }


@pytest.fixture(scope="module")
async def seeded(infra: Infra) -> AsyncIterator[Seeded]:
    async with reporting_sandbox(infra) as sandbox:
        history = seeded_history(RETURNEES)
        records = sandbox.records(history.events())
        # Topics are consumed independently: aid often lands before its registration.
        random.Random(7).shuffle(records)
        await sandbox.produce(records)
        started = time.perf_counter()
        async with reporting_api(sandbox) as http:
            seeded = Seeded(sandbox=sandbox, http=http, records=records, history=history)
            await seeded.settled()
            seeded.timings["projection_seconds"] = time.perf_counter() - started
            seeded.timings["events"] = len(records)
            yield seeded
        _keep_timings(seeded.timings)


def _keep_timings(timings: dict[str, float]) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    rates = {
        name.replace("_seconds", "_events_per_second"): timings["events"] / seconds
        for name, seconds in timings.items()
        if name.startswith(("projection_seconds", "rebuild_seconds")) and seconds
    }
    (ARTIFACTS / "reporting-timings.json").write_text(json.dumps({**timings, **rates}, indent=2))


PERIOD = {"from": "2024-01-01", "to": "2024-06-30"}


@dataclass(frozen=True)
class Case:
    """Query parameters of every report, plus those only the aid or activity report takes."""

    common: dict[str, str]
    aid: dict[str, str] = field(default_factory=dict)
    activities: dict[str, str] = field(default_factory=dict)

    def oracle_query(self, extra: dict[str, str] | None = None) -> Query:
        return oracle_query(self.common, extra)


CASES = {
    "all time": Case({}),
    "first half of 2024": Case(PERIOD),
    "gao, february to april": Case({"from": "2024-02-01", "to": "2024-04-30", "centre": "gao"}),
    "women aged 18-44": Case({"sex": "female", "age_group": "18-44"}),
    "medical need, from ci": Case({"vulnerability": "medical_need", "host_country": "ci"}),
    "avrr from the mopti region": Case({"return_type": "avrr", "region": "mopti"}),
    "reintegration cash, commerce": Case(
        PERIOD,
        aid={"phase": "reintegration", "category": "cash"},
        activities={"sector": "commerce"},
    ),
    "men: referrals, collective activities": Case(
        {"sex": "male"},
        aid={"modality": "referral", "level": "individual"},
        activities={"level": "collective"},
    ),
}


@pytest.mark.parametrize("name", list(CASES))
async def test_reports_equal_an_independent_computation_from_the_events(
    seeded: Seeded, name: str
) -> None:
    case = CASES[name]
    oracle = Oracle(seeded.history)

    registrations = await seeded.report("registrations", case.common)
    monthly = await seeded.report("registrations-monthly", case.common)
    aid_report = await seeded.report("aid", {**case.common, **case.aid})
    activities = await seeded.report("activities", {**case.common, **case.activities})
    kpis, medians = without_medians(await seeded.report("kpis", case.common))

    expected_registrations = oracle.registrations_report(case.oracle_query())
    expected_aid = oracle.aid_report(case.oracle_query(case.aid))
    expected_activities = oracle.activities_report(case.oracle_query(case.activities))
    expected_kpis, expected_medians = without_medians(oracle.kpis_report(case.oracle_query()))
    assert {k: registrations[k] for k in ("total", "breakdowns")} == expected_registrations
    assert monthly["rows"] == oracle.monthly_report(case.oracle_query())["rows"]
    assert amounts_as_decimals({k: aid_report[k] for k in ("total", "breakdowns")}) == expected_aid
    assert (
        amounts_as_decimals({k: activities[k] for k in ("total", "breakdowns")})
        == expected_activities
    )
    assert kpis["cohort"]["people"] > 0
    assert {k: kpis[k] for k in expected_kpis} == expected_kpis
    assert medians == pytest.approx(expected_medians, abs=0.01)


async def test_the_reports_say_which_period_and_filters_they_cover(seeded: Seeded) -> None:
    body = await seeded.report("aid", {**PERIOD, "centre": "kayes", "phase": "immediate"})

    assert body["report"] == "aid"
    assert body["period"] == {"from": "2024-01-01", "to": "2024-06-30"}
    assert body["filters"] == {"reception_centre": "kayes", "phase": "immediate"}
    assert body["small_cell_limit"] == 5


async def test_csv_exports_suppress_cells_of_fewer_than_five_people(seeded: Seeded) -> None:
    params = {"centre": "tombouctou", "sex": "female"}
    response = await seeded.http.get("/reports/registrations.csv", params=params)
    rows = list(csv.DictReader(io.StringIO(response.text)))
    expected = Oracle(seeded.history).registrations_report(Case(params).oracle_query())
    cells = {
        (name, cell["value"]): cell
        for name, cells in expected["breakdowns"].items()
        for cell in cells
    }

    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["cache-control"] == "no-store"
    assert rows[0] == {
        "breakdown": "total",
        "value": "all",
        "people": str(expected["total"]["people"]),
        "suppressed": "false",
    }
    assert len(rows) == len(cells) + 1
    assert any(row["suppressed"] == "true" for row in rows), "the filter should give small cells"
    for row in rows[1:]:
        cell = cells[(row["breakdown"], row["value"])]
        if cell["small_cell"]:
            assert (row["people"], row["suppressed"]) == ("", "true")
        else:
            assert (row["people"], row["suppressed"]) == (str(cell["people"]), "false")


async def test_every_report_has_a_csv_export(seeded: Seeded) -> None:
    for name in ("registrations", "registrations-monthly", "aid", "activities", "kpis"):
        response = await seeded.http.get(f"/reports/{name}.csv", params=PERIOD)
        assert response.status_code == 200, name
        assert response.headers["content-disposition"] == (
            f'attachment; filename="{name}_2024-01-01_2024-06-30.csv"'
        )
        header = response.text.splitlines()[0].split(",")
        assert header[-1] == "suppressed"
        assert len(response.text.splitlines()) > 2, name


async def test_personal_values_never_reach_the_projections(seeded: Seeded) -> None:
    conn = await seeded.sandbox.connect()
    try:
        tables = [
            row["table_name"]
            for row in await conn.fetch(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = $1",
                seeded.sandbox.schema,
            )
        ]
        dump = "".join(
            [
                str(await conn.fetchval(f"SELECT string_agg(t::text, '|') FROM {table} t"))  # noqa: S608
                for table in tables
            ]
        )
    finally:
        await conn.close()

    assert "registrations" in tables
    assert CANARY not in dump
    assert "+22365012345" not in dump


async def test_metrics_show_consumer_lag_and_projection_freshness(seeded: Seeded) -> None:
    # Every partition of every topic reporting reads.
    partitions = len(REPORTING.consumes) * DEFAULT_PARTITIONS
    # What `seeded` waited for, a complete inbox, is not what the gauge shows. consumer_lag is
    # the partition's highwater (from the latest fetch) minus the consumer's position (what
    # it has fetched), set after a poll at most once a second. The inbox is complete as soon
    # as the last batch's transaction commits; its offsets are committed after that. When the
    # group rebalances in between (the event loop the service shares with the tests was busy
    # past the session timeout), the commit is refused and the member resumes from the
    # offsets committed before: the gauge shows records again that the inbox already has,
    # until they are read and skipped once more. So: first wait for every record to be
    # committed (nothing left to read again), then for a refresh of the gauge after that.
    await eventually(
        seeded.uncommitted,
        until=lambda uncommitted: not uncommitted,
        within=60,
        what="the group's offsets committed to the end of every partition",
    )
    lags = await eventually(
        seeded.lags,
        until=lambda lags: len(lags) == partitions and not any(lags.values()),
        within=60,
        what=f"a consumer_lag of 0 on each of the {partitions} partitions",
    )
    metrics = await seeded.metrics()

    assert len(lags) == partitions  # all read to the end
    assert all(lag == 0 for lag in lags.values())
    assert metrics["reporting_projection_last_event_time_seconds"] > 0
    assert metrics["reporting_projection_last_applied_time_seconds"] > time.time() - 600
    assert metrics["reporting_projection_delay_seconds_count"] >= seeded.produced


async def test_readiness_checks_postgres_and_kafka(seeded: Seeded) -> None:
    response = await seeded.http.get("/readyz")

    assert response.status_code == 200
    assert response.json()["checks"] == {"postgres": "ok", "kafka": "ok", "consumer": "ok"}


async def test_aid_before_its_registration_is_kept_and_joined_later(seeded: Seeded) -> None:
    rng = random.Random(2022)
    arrival = date(2022, 3, 7)
    people = [registration(rng, arrival) for _ in range(6)]
    care = [aid(rng, p.returnee_id, _hours_after(arrival, 30), "immediate") for p in people]
    joint = activity(rng, [p.returnee_id for p in people[:3]], _hours_after(arrival, 24 * 40))
    march = {"from": "2022-03-01", "to": "2022-03-31"}

    await seeded.publish([*care, joint])
    aid_alone = await seeded.report("aid", march)
    kpis_alone = await seeded.report("kpis", march)
    aid_of_centre_alone = await seeded.report(
        "aid", {**march, "centre": people[0].reception_centre.value}
    )

    await seeded.publish(list(people))
    kpis_joined = await seeded.report("kpis", march)

    assert aid_alone["total"]["people"] == 6
    assert kpis_alone["cohort"]["people"] == 0
    assert aid_of_centre_alone["total"]["aids"] == 0
    assert kpis_joined["cohort"]["people"] == 6
    assert kpis_joined["immediate_assistance_within_72h"]["people"] == 6
    assert kpis_joined["launched_activity"]["people"] == 3
    assert [f["people"] for f in kpis_joined["funnel"]] == [6, 6, 3]
    assert kpis_joined["median_hours_to_first_aid"]["hours"] == 30


def _hours_after(day: date, hours: float) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(hours=hours)


async def test_redelivered_and_republished_events_change_nothing(seeded: Seeded) -> None:
    before = await table_checksums(seeded.sandbox)
    duplicates_before = await seeded.duplicates()
    redelivered = random.Random(3).sample(seeded.records, 200)
    # The same aid published again under new event ids, with other values: the first
    # version of a business id is the one that counts.
    republished = [
        a.model_copy(
            update={"amount": None, "category": AidCategory.FOOD, "phase": AidPhase.IMMEDIATE}
        )
        for a in random.Random(4).sample(seeded.history.aid, 20)
    ]

    await seeded.sandbox.produce(redelivered)
    await seeded.publish(republished)
    await eventually(
        seeded.duplicates,
        until=lambda now: now - duplicates_before >= len(redelivered),
        what=f"{len(redelivered)} more duplicates skipped (from {duplicates_before})",
    )
    assert await table_checksums(seeded.sandbox) == before


@pytest.mark.parametrize("workers", [1, 3])
async def test_rebuild_recreates_identical_projections(seeded: Seeded, workers: int) -> None:
    """Alone, or with member processes sharing the partitions (and rebalancing as they join)."""
    before = await table_checksums(seeded.sandbox)
    started = time.perf_counter()

    returncode, summary = await seeded.sandbox.rebuild(workers=workers)
    seeded.timings[f"rebuild_command_seconds_{workers}_workers"] = time.perf_counter() - started
    # Without the interpreter's start.
    seeded.timings[f"rebuild_seconds_{workers}_workers"] = summary["seconds"]

    assert returncode == 0
    assert summary["records"] >= seeded.produced
    assert await table_checksums(seeded.sandbox) == before
    assert await inbox_count(seeded.sandbox) == seeded.produced
    expected = Oracle(seeded.history).registrations_report(Case({}).oracle_query())
    assert (await seeded.report("registrations", {}))["breakdowns"] == expected["breakdowns"]


async def test_reports_need_an_analyst_token(seeded: Seeded) -> None:
    case_worker = issue_dev_token(seeded.sandbox.infra.jwt_secret, "case_worker")

    anonymous = await seeded.http.get("/reports/kpis", headers={"Authorization": ""})
    wrong_role = await seeded.http.get(
        "/reports/kpis.csv", headers={"Authorization": f"Bearer {case_worker}"}
    )

    assert anonymous.status_code == 401
    assert wrong_role.status_code == 403
