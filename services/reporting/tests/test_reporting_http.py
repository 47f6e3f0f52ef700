"""The report endpoints over a fake report source: parameters, JSON, CSV and access."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from decimal import Decimal
from uuid import UUID

import httpx
import pytest
from fastapi import FastAPI

from retour_kit.auth import issue_dev_token
from retour_kit.http import create_http_app
from retour_kit.metrics import new_registry
from retour_reporting.domain.case_results import (
    CaseCell,
    ClosureReport,
    FollowUpPeriod,
    FollowUpReport,
    PartnerReferrals,
    PlanOutcomes,
    PlanReport,
    ReferralCell,
    ReferralGroup,
    ReferralReport,
    ScoreCell,
    Scores,
    ScoreSeries,
    SustainabilityReport,
    VisitCounts,
)
from retour_reporting.domain.expected_results import (
    ArrivalCounts,
    ExpectedArrivalsReport,
    WaveArrivals,
)
from retour_reporting.domain.outcomes import CohortOutcomes, KpiReport
from retour_reporting.domain.queries import ReportQuery
from retour_reporting.domain.results import (
    ActivityCell,
    ActivityReport,
    AidCell,
    AidReport,
    MonthlyRegistrations,
    PeopleCell,
    RegistrationReport,
)
from retour_reporting.entrypoints.dashboard import dashboard_routes
from retour_reporting.entrypoints.report_admission import ReportAdmission
from retour_reporting.entrypoints.report_routes import report_routes
from retour_reporting.entrypoints.shared_reports import SharedReports
from retour_reporting.settings import Settings
from retour_test_infra import eventually

SECRET = "test-secret-that-is-at-least-32-chars"
PARTNER = UUID("0a9b8c7d-6e5f-4a3b-9c1d-2e3f4a5b6c7d")
WAVE = UUID("4b1c2d3e-5f60-4a7b-8c9d-0e1f2a3b4c5d")
PORT_BOUET = ArrivalCounts(
    expected=415,
    arrived=400,
    arrived_elsewhere=3,
    awaited=10,
    closed_lapsed=4,
    closed_withdrawn=1,
    cared=380,
    cared_within_72h=370,
    median_hours_to_care=5.256,
)
OUTCOMES = CohortOutcomes(
    cohort=120,
    aided=100,
    immediate_within_72h=90,
    reintegration_aided=3,
    with_activity=40,
    aided_with_activity=38,
    median_hours_to_first_aid=20.256,
)


class FakeReportSource:
    def __init__(self) -> None:
        self.queries: list[ReportQuery] = []

    async def registrations(self, query: ReportQuery) -> RegistrationReport:
        self.queries.append(query)
        cells = [PeopleCell("female", 3), PeopleCell("male", 117)]
        return RegistrationReport(total=120, breakdowns={"sex": cells})

    async def monthly_registrations(self, query: ReportQuery) -> list[MonthlyRegistrations]:
        return [
            MonthlyRegistrations("2024-01", "gao", 12),
            MonthlyRegistrations("2024-01", "kayes", 2),
        ]

    async def aid(self, query: ReportQuery) -> AidReport:
        cash = AidCell(
            "cash", aids=8, people=7, total_xof=Decimal("350000.00"), other_currency_aids=1
        )
        food = AidCell("food", aids=4, people=2, total_xof=Decimal(0), other_currency_aids=0)
        total = AidCell(
            "all", aids=12, people=9, total_xof=Decimal("350000"), other_currency_aids=1
        )
        return AidReport(total=total, breakdowns={"category": [cash, food]})

    async def activities(self, query: ReportQuery) -> ActivityReport:
        total = ActivityCell("all", activities=2, participants=6, funding_xof=Decimal("1500.5"))
        return ActivityReport(total=total, breakdowns={})

    async def kpis(self, query: ReportQuery) -> KpiReport:
        return KpiReport(overall=OUTCOMES, by_centre={"gao": OUTCOMES})

    async def plans(self, query: ReportQuery) -> PlanReport:
        self.queries.append(query)
        gao = PlanOutcomes(cohort=40, with_plan=30, within_aim=24, median_days=21.25)
        kayes = PlanOutcomes(cohort=6, with_plan=3, within_aim=1, median_days=40.0)
        overall = PlanOutcomes(cohort=46, with_plan=33, within_aim=25, median_days=22.0)
        return PlanReport(aim_days=30, overall=overall, by_centre={"gao": gao, "kayes": kayes})

    async def referrals(self, query: ReportQuery) -> ReferralReport:
        statuses = {
            "sent": ReferralCell(2, 2),
            "accepted": ReferralCell(6, 6),
            "completed": ReferralCell(9, 8),
            "declined": ReferralCell(0, 0),
        }
        group = ReferralGroup(total=ReferralCell(17, 16), by_status=statuses)
        partner = PartnerReferrals(PARTNER, "Centre de formation de Gao", group)
        return ReferralReport(overall=group, partners=[partner])

    async def follow_ups(self, query: ReportQuery) -> FollowUpReport:
        gao = VisitCounts(scheduled=30, completed=20, unreachable=3, overdue=5, due=27)
        kayes = VisitCounts(scheduled=4, completed=2, unreachable=0, overdue=1, due=3)
        overall = VisitCounts(scheduled=34, completed=22, unreachable=3, overdue=6, due=30)
        period = FollowUpPeriod(3, overall, {"gao": gao, "kayes": kayes})
        return FollowUpReport(as_of=date(2025, 3, 1), periods=[period])

    async def sustainability(self, query: ReportQuery) -> SustainabilityReport:
        means = Scores(economic=0.5, social=0.6, psychosocial=0.7, composite=0.6)
        total = ScoreCell("all", 12, means)
        cells = [ScoreCell("female", 2, Scores(0.9, 0.8, 0.7, 0.8)), ScoreCell("male", 10, means)]
        series = ScoreSeries("follow_up", 6, "rss-2017", total, {"sex": cells})
        return SustainabilityReport(series=[series])

    async def closures(self, query: ReportQuery) -> ClosureReport:
        return ClosureReport(
            closed=9,
            by_reason=[CaseCell("reintegration_completed", 7), CaseCell("remigrated", 2)],
            reopenings=1,
            reopenings_by_reason=[CaseCell("new_needs", 1)],
        )

    async def expected_arrivals(self, query: ReportQuery) -> ExpectedArrivalsReport:
        self.queries.append(query)
        wave = WaveArrivals(
            WAVE, "Port-Bouët, vol 2", 415, "bamako", date(2024, 6, 11), "CI", PORT_BOUET
        )
        return ExpectedArrivalsReport(total=PORT_BOUET, waves=[wave])


@pytest.fixture
def source() -> FakeReportSource:
    return FakeReportSource()


@pytest.fixture
async def http(source: FakeReportSource) -> AsyncIterator[httpx.AsyncClient]:
    admission = ReportAdmission(running=4, waiting=8, wait_seconds=2.0)
    async with _client(source, admission) as client:
        yield client


@asynccontextmanager
async def _client(
    source: FakeReportSource, admission: ReportAdmission, shared: SharedReports | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        database_url="postgresql://reporting@127.0.0.1:1/unused", auth_jwt_secret=SECRET
    )
    app: FastAPI = create_http_app(
        title="test",
        version="0",
        settings=settings,
        lifespan=None,
        readiness=[],
        registry=new_registry(),
    )
    app.include_router(report_routes(source, admission, shared))
    app.include_router(dashboard_routes())
    token = issue_dev_token(SECRET, "analyst")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://reporting",
        headers={"Authorization": f"Bearer {token}"},
    ) as client:
        yield client


async def test_json_keeps_exact_counts_and_flags_small_cells(http: httpx.AsyncClient) -> None:
    body = (await http.get("/reports/registrations", params={"from": "2024-01-01"})).json()

    assert body["breakdowns"]["sex"] == [
        {"value": "female", "people": 3, "small_cell": True},
        {"value": "male", "people": 117, "small_cell": False},
    ]
    assert body["period"] == {"from": "2024-01-01", "to": None}


async def test_csv_suppresses_small_cells_but_keeps_their_rows(http: httpx.AsyncClient) -> None:
    response = await http.get("/reports/registrations.csv")
    rows = list(csv.reader(io.StringIO(response.text)))

    assert rows == [
        ["breakdown", "value", "people", "suppressed"],
        ["total", "all", "120", "false"],
        ["sex", "female", "", "true"],
        ["sex", "male", "117", "false"],
    ]
    assert response.headers["content-disposition"] == (
        'attachment; filename="registrations_start_now.csv"'
    )


async def test_money_is_written_as_plain_decimals(http: httpx.AsyncClient) -> None:
    body = (await http.get("/reports/aid")).json()
    rows = list(csv.DictReader(io.StringIO((await http.get("/reports/aid.csv")).text)))

    assert body["total"]["total_xof"] == "350000"
    assert body["breakdowns"]["category"][0]["total_xof"] == "350000"
    assert rows[1]["total_xof"] == "350000"
    assert rows[2] == {
        "breakdown": "category",
        "value": "food",
        "aids": "",
        "people": "",
        "total_xof": "",
        "other_currency_aids": "",
        "suppressed": "true",
    }
    assert (await http.get("/reports/activities")).json()["total"]["funding_xof"] == "1500.5"


async def test_kpis_give_shares_medians_and_the_funnel(http: httpx.AsyncClient) -> None:
    body = (await http.get("/reports/kpis")).json()
    rows = list(csv.DictReader(io.StringIO((await http.get("/reports/kpis.csv")).text)))
    by_indicator = {(row["group"], row["indicator"]): row for row in rows}

    assert body["immediate_assistance_within_72h"] == {
        "people": 90,
        "of": 120,
        "share": 0.75,
        "small_cell": False,
    }
    assert body["median_hours_to_first_aid"]["hours"] == 20.26
    assert body["reintegration_aid"]["small_cell"] is True
    assert [stage["people"] for stage in body["funnel"]] == [120, 100, 38]
    assert body["by_centre"][0]["value"] == "gao"
    assert by_indicator[("all", "reintegration_aid")]["suppressed"] == "true"
    assert (
        by_indicator[("reception_centre=gao", "immediate_assistance_within_72h")]["value"] == "0.75"
    )


async def test_filters_are_validated_and_normalised(
    http: httpx.AsyncClient, source: FakeReportSource
) -> None:
    ok = await http.get("/reports/registrations", params={"host_country": "ci", "centre": "gao"})
    unknown_centre = await http.get("/reports/registrations", params={"centre": "paris"})
    backwards = await http.get("/reports/kpis", params={"from": "2024-02-01", "to": "2024-01-01"})

    assert ok.status_code == 200
    assert ok.json()["filters"] == {"reception_centre": "gao", "host_country": "CI"}
    assert source.queries[-1].returnees.host_country == "CI"
    assert unknown_centre.status_code == 422
    assert backwards.status_code == 422
    assert backwards.json()["error"] == "invalid_period"


async def test_reports_are_for_analysts_only(http: httpx.AsyncClient) -> None:
    registrar = issue_dev_token(SECRET, "registrar")

    anonymous = await http.get("/reports/aid.csv", headers={"Authorization": ""})
    wrong_role = await http.get("/reports/aid", headers={"Authorization": f"Bearer {registrar}"})

    assert anonymous.status_code == 401
    assert wrong_role.status_code == 403


async def test_the_dashboard_page_is_served_without_a_token_and_holds_no_data(
    http: httpx.AsyncClient,
) -> None:
    page = await http.get("/", headers={"Authorization": ""})
    script = await http.get("/dashboard.js", headers={"Authorization": ""})

    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert script.headers["content-type"] == "text/javascript; charset=utf-8"
    assert "http://" not in script.text.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in script.text + page.text


# ---- the case reports -----------------------------------------------------------------------


async def _csv(http: httpx.AsyncClient, name: str) -> list[dict[str, str]]:
    response = await http.get(f"/reports/{name}.csv")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["cache-control"] == "no-store"
    return list(csv.DictReader(io.StringIO(response.text)))


async def test_plans_give_the_share_agreed_within_a_month_and_the_median(
    http: httpx.AsyncClient, source: FakeReportSource
) -> None:
    response = await http.get("/reports/plans", params={"centre": "gao", "sex": "female"})
    asked = source.queries[-1]
    body = response.json()
    rows = {(r["group"], r["indicator"]): r for r in await _csv(http, "plans")}

    assert response.headers["cache-control"] == "no-store"
    assert asked.returnees.sex == "female"
    assert body["filters"] == {"reception_centre": "gao", "sex": "female"}
    assert body["aim_days"] == 30
    assert body["agreed_within_aim"] == {
        "people": 25,
        "of": 33,
        "share": 0.7576,
        "small_cell": False,
    }
    assert body["median_days_to_plan"] == {"days": 22.0, "people": 33, "small_cell": False}
    assert body["by_centre"][1]["value"] == "kayes"
    assert body["by_centre"][1]["agreed_within_aim"]["small_cell"] is True
    assert rows[("reception_centre=gao", "agreed_within_aim")]["value"] == "0.8"
    assert rows[("reception_centre=kayes", "agreed_within_aim")] == {
        "group": "reception_centre=kayes",
        "indicator": "agreed_within_aim",
        "people": "",
        "of": "",
        "value": "",
        "suppressed": "true",
    }
    assert rows[("reception_centre=kayes", "median_days_to_plan")]["value"] == ""


async def test_referrals_count_each_status_of_each_partner(http: httpx.AsyncClient) -> None:
    body = (await http.get("/reports/referrals")).json()
    rows = await _csv(http, "referrals")

    [partner] = body["partners"]
    assert partner["partner_id"] == str(PARTNER)
    assert partner["partner_name"] == "Centre de formation de Gao"
    assert partner["by_status"]["sent"] == {"referrals": 2, "people": 2, "small_cell": True}
    assert partner["by_status"]["declined"]["small_cell"] is False
    assert body["total"]["referrals"] == 17
    assert [(r["partner_id"], r["status"]) for r in rows[:5]] == [
        ("all", "all"),
        ("all", "sent"),
        ("all", "accepted"),
        ("all", "completed"),
        ("all", "declined"),
    ]
    sent = next(r for r in rows if r["partner_id"] == str(PARTNER) and r["status"] == "sent")
    assert (sent["referrals"], sent["people"], sent["suppressed"]) == ("", "", "true")


async def test_follow_ups_give_visits_and_the_completion_rate_per_period(
    http: httpx.AsyncClient,
) -> None:
    body = (await http.get("/reports/follow-ups")).json()
    rows = {(r["group"], r["indicator"]): r for r in await _csv(http, "follow-ups")}

    [period] = body["periods"]
    assert body["as_of"] == "2025-03-01"
    assert period["period_months"] == 3
    assert period["completion"] == {"visits": 22, "of": 30, "share": 0.7333, "small_cell": False}
    assert period["overdue"] == {"visits": 6, "small_cell": False}
    assert period["by_centre"][1]["value"] == "kayes"
    assert period["by_centre"][1]["scheduled"] == {"visits": 4, "small_cell": True}
    assert rows[("reception_centre=gao", "unreachable")]["suppressed"] == "true"
    assert rows[("all", "completion")]["value"] == "0.7333"
    assert rows[("reception_centre=kayes", "completion")]["visits"] == ""
    assert {r["period_months"] for r in rows.values()} == {"3"}


async def test_sustainability_means_of_small_cells_are_shown_nowhere(
    http: httpx.AsyncClient,
) -> None:
    body = (await http.get("/reports/sustainability")).json()
    rows = await _csv(http, "sustainability")

    [series] = body["series"]
    female, male = series["breakdowns"]["sex"]
    assert (series["kind"], series["period_months"], series["method"]) == (
        "follow_up",
        6,
        "rss-2017",
    )
    assert series["total"]["means"]["composite"] == 0.6
    assert female == {"value": "female", "people": 2, "small_cell": True, "means": None}
    assert male["means"] == {"economic": 0.5, "social": 0.6, "psychosocial": 0.7, "composite": 0.6}
    suppressed = next(r for r in rows if r["value"] == "female")
    assert [suppressed[k] for k in ("people", "economic", "composite", "suppressed")] == [
        "",
        "",
        "",
        "true",
    ]
    assert next(r for r in rows if r["value"] == "male")["psychosocial"] == "0.7"


async def test_closures_count_cases_by_reason_and_reopenings(http: httpx.AsyncClient) -> None:
    body = (await http.get("/reports/closures")).json()
    rows = await _csv(http, "closures")

    assert body["closed"] == {"cases": 9, "small_cell": False}
    assert body["by_reason"][1] == {"value": "remigrated", "cases": 2, "small_cell": True}
    assert body["reopenings"] == {"cases": 1, "small_cell": True}
    assert rows[0] == {"event": "closed", "reason": "all", "cases": "9", "suppressed": "false"}
    assert rows[2] == {"event": "closed", "reason": "remigrated", "cases": "", "suppressed": "true"}
    assert rows[3]["event"] == "reopened"


@pytest.mark.parametrize("name", ["plans", "referrals", "follow-ups", "sustainability", "closures"])
async def test_case_reports_are_for_analysts_only_and_check_their_filters(
    http: httpx.AsyncClient, name: str
) -> None:
    case_worker = issue_dev_token(SECRET, "case_worker")

    anonymous = await http.get(f"/reports/{name}.csv", headers={"Authorization": ""})
    wrong_role = await http.get(
        f"/reports/{name}", headers={"Authorization": f"Bearer {case_worker}"}
    )
    unknown_return_type = await http.get(f"/reports/{name}", params={"return_type": "by_sea"})
    backwards = await http.get(
        f"/reports/{name}", params={"from": "2024-02-01", "to": "2024-01-01"}
    )

    assert anonymous.status_code == 401
    assert wrong_role.status_code == 403
    assert unknown_return_type.status_code == 422
    assert backwards.json()["error"] == "invalid_period"


# ---- expected arrivals ------------------------------------------------------------------------


async def test_expected_arrivals_give_each_wave_its_counts_and_time_to_care(
    http: httpx.AsyncClient, source: FakeReportSource
) -> None:
    response = await http.get(
        "/reports/expected-arrivals", params={"from": "2024-06-01", "centre": "bamako"}
    )
    body = response.json()
    rows = await _csv(http, "expected-arrivals")
    by_indicator = {(r["wave_id"], r["indicator"]): r for r in rows}

    assert response.headers["cache-control"] == "no-store"
    assert source.queries[-2].period.first_day == date(2024, 6, 1)
    assert body["filters"] == {"reception_centre": "bamako"}
    [wave] = body["waves"]
    assert {k: wave[k] for k in ("wave_id", "wave_name", "reception_centre", "host_country")} == {
        "wave_id": str(WAVE),
        "wave_name": "Port-Bouët, vol 2",
        "reception_centre": "bamako",
        "host_country": "CI",
    }
    assert wave["expected_date"] == "2024-06-11"
    assert wave["expected"] == {"people": 415, "small_cell": False}
    assert wave["arrived_elsewhere"] == {"people": 3, "small_cell": True}
    assert wave["closed_withdrawn"] == {"people": 1, "small_cell": True}
    assert wave["immediate_care_within_72h"] == {
        "people": 370,
        "of": 400,
        "share": 0.925,
        "small_cell": False,
    }
    assert wave["median_hours_to_immediate_care"] == {
        "hours": 5.26,
        "people": 380,
        "small_cell": False,
    }
    assert body["total"]["awaited"] == {"people": 10, "small_cell": False}
    assert by_indicator[("all", "arrived")]["people"] == "400"
    assert by_indicator[(str(WAVE), "wave_size")]["people"] == "415"
    assert by_indicator[(str(WAVE), "arrived_elsewhere")] == {
        "wave_id": str(WAVE),
        "wave_name": "Port-Bouët, vol 2",
        "reception_centre": "bamako",
        "expected_date": "2024-06-11",
        "host_country": "CI",
        "indicator": "arrived_elsewhere",
        "people": "",
        "of": "",
        "value": "",
        "suppressed": "true",
    }
    assert by_indicator[(str(WAVE), "median_hours_to_immediate_care")]["value"] == "5.26"


async def test_expected_arrivals_are_for_analysts_and_check_their_parameters(
    http: httpx.AsyncClient,
) -> None:
    supervisor = issue_dev_token(SECRET, "supervisor")

    wrong_role = await http.get(
        "/reports/expected-arrivals", headers={"Authorization": f"Bearer {supervisor}"}
    )
    unknown_centre = await http.get("/reports/expected-arrivals", params={"centre": "paris"})
    backwards = await http.get(
        "/reports/expected-arrivals.csv", params={"from": "2024-02-01", "to": "2024-01-01"}
    )

    assert wrong_role.status_code == 403
    assert unknown_centre.status_code == 422
    assert "centre" in unknown_centre.text
    assert backwards.status_code == 422
    assert backwards.json()["error"] == "invalid_period"


class HeldReportSource(FakeReportSource):
    """KPIs that are not answered until the test lets them go: reports kept running."""

    def __init__(self) -> None:
        super().__init__()
        self.running = 0
        self.release = asyncio.Event()

    async def kpis(self, query: ReportQuery) -> KpiReport:
        self.running += 1
        await self.release.wait()
        return await super().kpis(query)


# A bound on a request the test expects an answer to: without the gate, it would never come.
NO_HANG_SECONDS = 30


async def test_reports_beyond_the_running_and_waiting_places_get_503_at_once() -> None:
    source = HeldReportSource()
    admission = ReportAdmission(running=1, waiting=1, wait_seconds=3600)
    async with _client(source, admission) as http:
        running = asyncio.create_task(http.get("/reports/kpis"))
        await eventually(lambda: source.running, until=lambda n: n == 1, what="one report running")
        waiting = asyncio.create_task(http.get("/reports/kpis.csv", params={"centre": "gao"}))
        await eventually(lambda: admission.waiting, until=lambda n: n == 1, what="one waiting")

        # The queue is full: this one is refused without waiting for the running report, which
        # the test holds for as long as it likes (an hour of patience here).
        async with asyncio.timeout(NO_HANG_SECONDS):
            refused = await http.get("/reports/kpis", params={"centre": "kayes"})

        assert refused.status_code == 503
        assert refused.json()["error"] == "reports_busy"
        assert refused.headers["Retry-After"] == "5"
        assert source.running == 1  # never reached the report source
        assert not running.done() and not waiting.done()

        source.release.set()
        async with asyncio.timeout(NO_HANG_SECONDS):
            answers = await asyncio.gather(running, waiting)

    assert [answer.status_code for answer in answers] == [200, 200]
    assert source.running == 2
    assert admission.waiting == 0


async def test_a_report_whose_turn_does_not_come_in_time_gets_503() -> None:
    source = HeldReportSource()
    admission = ReportAdmission(running=1, waiting=4, wait_seconds=0.05)
    async with _client(source, admission) as http:
        running = asyncio.create_task(http.get("/reports/kpis"))
        await eventually(lambda: source.running, until=lambda n: n == 1, what="one report running")

        async with asyncio.timeout(NO_HANG_SECONDS):
            late = await http.get("/reports/kpis", params={"centre": "gao"})
        source.release.set()
        async with asyncio.timeout(NO_HANG_SECONDS):
            answered = await running

    assert late.status_code == 503
    assert late.json()["error"] == "reports_busy"
    assert answered.status_code == 200
    assert admission.waiting == 0


async def test_identical_reports_asked_at_the_same_time_share_one_query() -> None:
    source = HeldReportSource()
    admission = ReportAdmission(running=1, waiting=0, wait_seconds=3600)
    shared = SharedReports()
    async with _client(source, admission, shared) as http:
        first = asyncio.create_task(http.get("/reports/kpis", params={"centre": "gao"}))
        await eventually(lambda: source.running, until=lambda n: n == 1, what="one report running")
        # The same report and filters, as JSON and CSV: no running or waiting place is left,
        # yet these are not refused: they wait for the query already running.
        same = [
            asyncio.create_task(http.get(path, params={"centre": "gao"}))
            for path in ("/reports/kpis", "/reports/kpis.csv", "/reports/kpis")
        ]
        # All four wait for the one query before it is let go: a request arriving after it
        # finished would rightly need a query of its own.
        await eventually(
            lambda: shared.requesters_in_all, until=lambda n: n == 4, what="four requesters"
        )
        async with asyncio.timeout(NO_HANG_SECONDS):
            other_filters = await http.get("/reports/kpis", params={"centre": "kayes"})
        source.release.set()
        async with asyncio.timeout(NO_HANG_SECONDS):
            answers = await asyncio.gather(first, *same)

    assert other_filters.status_code == 503  # a different query needs a place of its own
    assert [answer.status_code for answer in answers] == [200, 200, 200, 200]
    assert answers[0].json() == answers[1].json()
    assert answers[2].headers["content-type"].startswith("text/csv")
    assert source.running == 1


async def test_a_shared_query_runs_on_for_those_who_stay_and_stops_when_all_leave() -> None:
    shared = SharedReports()
    finish = asyncio.Event()
    stopped: list[str] = []

    async def query(name: str) -> str:
        try:
            await finish.wait()
        except asyncio.CancelledError:
            stopped.append(name)
            raise
        return name

    # Two requesters, one leaves: the one who stays gets the result of the one query.
    leaving = asyncio.create_task(shared.prepare("kpis", lambda: query("kpis")))
    staying = asyncio.create_task(shared.prepare("kpis", lambda: query("duplicate")))
    await eventually(lambda: shared.requesters("kpis"), until=lambda n: n == 2, what="both")
    leaving.cancel()
    with pytest.raises(asyncio.CancelledError):
        await leaving
    finish.set()
    async with asyncio.timeout(NO_HANG_SECONDS):
        assert await staying == "kpis"

    # A requester alone leaves: its query is cancelled, as an unshared one would be.
    finish.clear()
    alone = asyncio.create_task(shared.prepare("aid", lambda: query("aid")))
    await eventually(lambda: shared.requesters("aid"), until=lambda n: n == 1, what="one")
    alone.cancel()
    await eventually(lambda: stopped, what="the query cancelled")

    assert stopped == ["aid"]
    assert shared.in_preparation == 0
