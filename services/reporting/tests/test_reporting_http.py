"""The report endpoints over a fake report source: parameters, JSON, CSV and access."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from decimal import Decimal

import httpx
import pytest
from fastapi import FastAPI

from retour_kit.auth import issue_dev_token
from retour_kit.http import create_http_app
from retour_kit.metrics import new_registry
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
from retour_reporting.entrypoints.report_routes import report_routes
from retour_reporting.settings import Settings

SECRET = "test-secret-that-is-at-least-32-chars"
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


@pytest.fixture
def source() -> FakeReportSource:
    return FakeReportSource()


@pytest.fixture
async def http(source: FakeReportSource) -> AsyncIterator[httpx.AsyncClient]:
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
    app.include_router(report_routes(source))
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
