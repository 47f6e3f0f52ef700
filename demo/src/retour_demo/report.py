"""The headline report printed at the end of the demo: the reporting API's figures as tables.

The reports come from the reporting service's projections, fed by the events the demo's
requests caused; so the demo first waits until every outbox is empty and no consumer has lag
left, as an operator would read it on /metrics.
"""

from __future__ import annotations

import asyncio
import re
from datetime import date
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from retour_demo.client import ApiClient, Endpoints
from retour_demo.runner import DemoError, Outcome
from retour_demo.scenario import Scenario

_SAMPLE = re.compile(r"^(outbox_backlog_rows|consumer_lag)\{?[^ ]*\s+([0-9.e+-]+)$", re.M)


async def _backlog(http: httpx.AsyncClient, url: str) -> float:
    text = (await http.get(f"{url}/metrics")).text
    return sum(float(value) for _, value in _SAMPLE.findall(text))


# The services refresh these gauges about once a second, each on its own timer: an empty
# reading is believed once it has stayed empty this long, so that every gauge has been
# refreshed after the last event was published (a consumer reports after applying a poll).
SETTLED_SECONDS = 2.5


async def wait_until_caught_up(endpoints: Endpoints, *, within: float = 180.0) -> None:
    urls = (endpoints.intake, endpoints.reintegration, endpoints.notifications, endpoints.reporting)
    loop = asyncio.get_running_loop()
    async with httpx.AsyncClient(timeout=10) as http:
        deadline = loop.time() + within
        empty_since: float | None = None
        while loop.time() < deadline:
            backlogs = [await _backlog(http, url) for url in urls]
            if any(backlogs):
                empty_since = None
            elif empty_since is None:
                empty_since = loop.time()
            elif loop.time() - empty_since >= SETTLED_SECONDS:
                return
            await asyncio.sleep(0.5)
    raise DemoError("events still in flight after 3 minutes: see make status and the logs")


def _share(cell: dict[str, Any]) -> str:
    return f"{cell['share']:.1%}" if cell.get("share") is not None else "n/a"


def _xof(amount: str) -> str:
    return f"{int(float(amount)):,}".replace(",", " ") + " XOF"


def _people(cell: dict[str, Any]) -> str:
    return "<5" if cell.get("small_cell") else f"{cell['people']:,}"


def _registrations_table(registrations: dict[str, Any]) -> Table:
    table = Table(title="Registered returnees who arrived in the period")
    table.add_column("by")
    table.add_column("", justify="left")
    table.add_column("people", justify="right")
    table.add_row("total", "", f"{registrations['total']['people']:,}")
    for breakdown in ("reception_centre", "return_type", "host_country", "sex", "age_group"):
        cells = sorted(registrations["breakdowns"].get(breakdown, []), key=lambda c: -c["people"])
        for number, cell in enumerate(cells[:6]):
            table.add_row(breakdown if number == 0 else "", cell["value"], _people(cell))
    return table


def _kpi_table(kpis: dict[str, Any]) -> Table:
    table = Table(title="Returnees who arrived in the period, by reception centre")
    for column in (
        "centre",
        "registered",
        "care within 72 h",
        "median h to first aid",
        "reintegration aid",
        "activity launched",
    ):
        table.add_column(column, justify="left" if column == "centre" else "right")
    rows = [("all centres", kpis), *((c["value"], c) for c in kpis["by_centre"])]
    for name, cell in rows:
        table.add_row(
            name,
            _people(cell["cohort"]),
            _share(cell["immediate_assistance_within_72h"]),
            f"{cell['median_hours_to_first_aid']['hours'] or 0:.0f}",
            _share(cell["reintegration_aid"]),
            _share(cell["launched_activity"]),
        )
    return table


def _aid_table(aid: dict[str, Any]) -> Table:
    table = Table(title="Assistance granted in the period, by category")
    for column in ("category", "aids", "people", "amount"):
        table.add_column(column, justify="left" if column == "category" else "right")
    for cell in aid["breakdowns"]["category"]:
        table.add_row(cell["value"], f"{cell['aids']:,}", _people(cell), _xof(cell["total_xof"]))
    total = aid["total"]
    table.add_row("total", f"{total['aids']:,}", _people(total), _xof(total["total_xof"]))
    return table


def _activity_table(activities: dict[str, Any]) -> Table:
    table = Table(title="Income-generating activities launched in the period, by sector")
    for column in ("sector", "activities", "participants", "funding"):
        table.add_column(column, justify="left" if column == "sector" else "right")
    for cell in activities["breakdowns"]["sector"]:
        table.add_row(
            cell["value"],
            f"{cell['activities']:,}",
            f"{cell['participants']:,}",
            _xof(cell["funding_xof"]),
        )
    return table


def _outcome_table(outcome: Outcome) -> Table:
    table = Table(title="What the demo did through the APIs")
    table.add_column("")
    table.add_column("count", justify="right")
    table.add_row("people on the wave's manifest (CSV)", f"{outcome.expected:,}")
    if outcome.wave:
        table.add_row("  registered and linked to it", f"{outcome.wave['arrived']:,}")
        table.add_row("  still awaited (never boarded)", f"{outcome.wave['open']:,}")
    table.add_row("returnees registered", f"{outcome.registered:,}")
    table.add_row("  from ODK Collect tablets (OpenRosa)", f"{outcome.via_openrosa:,}")
    table.add_row("  namesakes confirmed after review", f"{outcome.confirmed_after_review:,}")
    table.add_row("double registrations refused (409)", f"{outcome.duplicates_refused:,}")
    table.add_row("aid granted", f"{sum(outcome.aid_granted.values()):,}")
    table.add_row("  immediate care given after 72 h", f"{outcome.late_immediate:,}")
    table.add_row("activities launched", f"{sum(outcome.activities.values()):,}")
    table.add_row("registrations corrected", f"{outcome.corrected:,}")
    table.add_row(
        "  refused: the new phone matched someone else", f"{outcome.corrections_refused:,}"
    )
    table.add_row("people transferred to another centre", f"{outcome.transferred:,}")
    table.add_row("registered a second time (weak match)", f"{outcome.re_registered:,}")
    table.add_row("  merged after review", f"{outcome.merged:,}")
    table.add_row("  pairs told apart after review", f"{outcome.told_apart:,}")
    work = outcome.case_work
    table.add_row("cases assigned by a supervisor", f"{work.assigned:,}")
    table.add_row("  taken by a case worker", f"{work.taken:,}")
    table.add_row("assessments recorded", f"{work.assessments:,}")
    table.add_row("reintegration plans agreed", f"{work.plans_agreed:,}")
    table.add_row("  within a month of arrival", f"{work.plans_within_a_month:,}")
    table.add_row("referrals to partners", f"{sum(work.referrals.values()):,}")
    table.add_row("follow-up visits completed", f"{work.visits['completed']:,}")
    table.add_row("  returnee unreachable", f"{work.visits['unreachable']:,}")
    table.add_row("cases closed", f"{sum(work.closed.values()):,}")
    table.add_row("  reopened", f"{work.reopened:,}")
    return table


def _expected_table(report: dict[str, Any]) -> Table:
    table = Table(title="Waves announced by a manifest: expected and arrived")
    for column in ("wave", "centre", "expected", "arrived", "awaited", "care < 72 h", "median"):
        table.add_column(column, justify="left" if column in ("wave", "centre") else "right")
    for wave in report["waves"]:
        median = wave["median_hours_to_immediate_care"]
        table.add_row(
            wave["wave_name"],
            wave["reception_centre"],
            _people(wave["expected"]),
            _people(wave["arrived"]),
            _people(wave["awaited"]),
            _share(wave["immediate_care_within_72h"]),
            "n/a" if median.get("hours") is None else f"{median['hours']:.0f} h",
        )
    return table


def _count(cell: dict[str, Any], name: str = "people") -> str:
    return f"{cell[name]:,}"


def _case_work_table(reports: dict[str, Any]) -> Table:
    plans, follow_ups = reports["plans"], reports["follow-ups"]
    table = Table(title="Case management: plans of the period's returnees, and since then")
    table.add_column("")
    table.add_column("", justify="right")
    within = plans["agreed_within_aim"]
    table.add_row("with an agreed reintegration plan", _count(plans["with_plan"]))
    table.add_row(f"  agreed within {plans['aim_days']} days of arrival", _share(within))
    table.add_row(
        "  median days from arrival to the plan", f"{plans['median_days_to_plan']['days'] or 0}"
    )
    for period in follow_ups["periods"]:
        table.add_row(
            f"follow-up visits at {period['period_months']} months: completed",
            f"{period['completed']['visits']:,} ({_share(period['completion'])})",
        )
    for status, cell in reports["referrals"]["total"]["by_status"].items():
        table.add_row(f"referrals {status}", _count(cell, "referrals"))
    closures = reports["closures"]
    table.add_row("cases closed now", _count(closures["closed"], "cases"))
    for reason in closures["by_reason"]:
        table.add_row(f"  {reason['value']}", _count(reason, "cases"))
    table.add_row("cases reopened", _count(closures["reopenings"], "cases"))
    return table


def _sustainability_table(sustainability: dict[str, Any]) -> Table:
    table = Table(title="Reintegration sustainability scores (0 to 1), latest survey per person")
    for column in ("survey", "people", "economic", "social", "psychosocial", "composite"):
        table.add_column(column, justify="left" if column == "survey" else "right")
    for series in sustainability["series"]:
        when = "baseline" if series["kind"] == "baseline" else f"{series['period_months']} months"
        total, means = series["total"], series["total"]["means"]
        scores = [f"{means[d]:.2f}" if means else "-" for d in DIMENSIONS]
        table.add_row(when, _people(total), *scores)
    return table


DIMENSIONS = ("economic", "social", "psychosocial", "composite")


async def print_headline_report(
    console: Console,
    scenario: Scenario,
    outcome: Outcome,
    reporting: ApiClient,
    endpoints: Endpoints,
) -> None:
    console.print(_outcome_table(outcome))
    with console.status("Waiting for the events to reach the reports..."):
        await wait_until_caught_up(endpoints)
    period = {"from": scenario.params.start.isoformat(), "to": scenario.params.end.isoformat()}
    # The year after arrival: visits fall due, and case work is recorded, up to today.
    since = {"from": period["from"], "to": date.today().isoformat()}
    reports = {}
    by_arrival = ("registrations", "kpis", "aid", "activities", "plans", "expected-arrivals")
    since_arrival = ("referrals", "follow-ups", "sustainability", "closures")
    for name in (*by_arrival, *since_arrival):
        asked = period if name in by_arrival else since
        response = await reporting.get(f"/reports/{name}", **asked)
        if response.status_code != 200:
            raise DemoError(f"reporting /reports/{name}: HTTP {response.status_code}")
        reports[name] = response.json()
    console.print(_registrations_table(reports["registrations"]))
    console.print(_kpi_table(reports["kpis"]))
    console.print(_expected_table(reports["expected-arrivals"]))
    console.print(_aid_table(reports["aid"]))
    console.print(_activity_table(reports["activities"]))
    console.print(_case_work_table(reports))
    console.print(_sustainability_table(reports["sustainability"]))
