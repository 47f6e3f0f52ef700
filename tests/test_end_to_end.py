"""End to end across the four running services (make up), through their public HTTP APIs.

A small seeded scenario in a period of its own (so other tests' data does not count) is
played by the demo's runner, as a client would: registrations at intake, cases opened by
reintegration from returnee.registered, aid and activities granted there, SMS recorded by
notifications, and the reporting service's figures for that period equal to what was done.
"""

from __future__ import annotations

import os
import random
from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any

import pytest

from retour_demo.casework_runner import case_worker_clients
from retour_demo.client import ApiClient, Endpoints, dev_token
from retour_demo.report import wait_until_caught_up
from retour_demo.runner import DemoRunner, Outcome, new_progress
from retour_demo.scenario import Scenario, ScenarioParams, build_scenario
from retour_test_infra import Infra, eventually

pytestmark = pytest.mark.integration


def running_services() -> Endpoints:
    offset = int(os.environ.get("RETOUR_PORT_OFFSET", "0"))
    return Endpoints(*(f"http://127.0.0.1:{8001 + offset + n}" for n in range(4)))


@pytest.fixture(scope="module")
async def played(infra: Infra) -> AsyncIterator[tuple[Scenario, Outcome, ApiClient, Endpoints]]:
    endpoints = running_services()
    # A fortnight of its own between 2000 and 2019, and a seed of its own: a new run adds new
    # people, and its period must hold nobody else. A database kept across many runs (make up
    # keeps it) has earlier runs' fortnights in that range: draw again until reporting counts
    # no one in the period.
    rng = random.Random()
    analyst = ApiClient(endpoints.reporting, dev_token(infra.jwt_secret, "analyst"))
    try:
        for _ in range(20):
            start = date(2000, 1, 1) + timedelta(days=rng.randrange(7000))
            period = {"from": start.isoformat(), "to": (start + timedelta(days=14)).isoformat()}
            taken = (await analyst.get("/reports/registrations", **period)).json()
            if taken["total"]["people"] == 0:
                break
        else:
            pytest.fail("no empty fortnight between 2000 and 2019 in 20 draws: make clean")
    finally:
        await analyst.close()
    params = ScenarioParams(
        returnees=60,
        wave=8,
        start=start,
        end=start + timedelta(days=14),
        seed=rng.randrange(10**9),
        duplicate_attempts=2,
        reintegration_share=0.6,
        activity_share=0.7,
        case_work=12,
    )
    scenario = build_scenario(params)
    clients = {
        role: ApiClient(url, dev_token(infra.jwt_secret, role.removeprefix("intake_")))
        for role, url in (
            ("registrar", endpoints.intake),
            ("supervisor", endpoints.reintegration),
            ("intake_supervisor", endpoints.intake),
            ("case_worker", endpoints.notifications),
            ("analyst", endpoints.reporting),
        )
    }
    case_workers = case_worker_clients(endpoints.reintegration, infra.jwt_secret)
    try:
        response = await clients["registrar"].get("/healthz")
    except Exception as error:
        pytest.fail(f"intake is not running at {endpoints.intake}: run `make up` ({error})")
    assert response.status_code == 200
    with new_progress() as progress:
        outcome = await DemoRunner(
            scenario,
            intake=clients["registrar"],
            reintegration=clients["supervisor"],
            supervisor=clients["intake_supervisor"],
            case_workers=case_workers,
        ).run(progress)
    await wait_until_caught_up(endpoints, within=120)
    yield scenario, outcome, clients["analyst"], endpoints
    # Notifications are checked with their own client.
    for client in (*clients.values(), *case_workers.values()):
        await client.close()


async def test_every_request_of_the_scenario_was_accepted(
    played: tuple[Scenario, Outcome, ApiClient, Endpoints],
) -> None:
    scenario, outcome, _, _ = played
    assert outcome.registered == len(scenario.returnees)
    assert outcome.duplicates_refused == len(scenario.duplicates)
    planned_aid = sum(len(r.immediate_aid) + len(r.reintegration_aid) for r in scenario.returnees)
    assert sum(outcome.aid_granted.values()) == planned_aid
    assert sum(outcome.activities.values()) == len(scenario.activities)
    assert outcome.corrected + outcome.transferred == len(scenario.corrections)
    assert outcome.corrections_refused == 0  # new people: no phone matches anyone's
    # Each second registration is merged, unless a namesake made it a strong match (refused).
    assert outcome.merged == outcome.re_registered > 0
    work, planned = outcome.case_work, scenario.case_work
    assert work.assigned + work.taken == work.plans_agreed == len(planned) > 0
    assert work.assessments == 2 * len(planned)  # family, and the survey as a baseline
    assert sum(work.referrals.values()) == sum(bool(i.partner) for c in planned for i in c.items)
    # The fortnight is years ago: every visit planned is due, and recorded.
    assert sum(work.visits.values()) == sum(len(c.visits) for c in planned)
    assert sum(work.closed.values()) == sum(bool(c.closure) for c in planned)


async def test_reports_for_the_period_equal_what_was_done(
    played: tuple[Scenario, Outcome, ApiClient, Endpoints],
) -> None:
    scenario, outcome, reporting, _ = played
    period = {"from": scenario.params.start.isoformat(), "to": scenario.params.end.isoformat()}
    expected = {
        # A second registration merged into the first is the same person, counted once.
        "registered": outcome.registered + outcome.re_registered - outcome.merged,
        "wave": [scenario.params.wave],
        "aided_in_time": sum(bool(r.immediate_aid) and not r.late for r in scenario.returnees),
        "with_grant": sum(bool(r.reintegration_aid) for r in scenario.returnees),
        "participants": sum(len(a.participants) for a in scenario.activities),
        # The fortnight held nobody else: every plan of it is the scenario's.
        "with_plan": outcome.case_work.plans_agreed,
        "plan_within_a_month": outcome.case_work.plans_within_a_month,
    }

    async def figures() -> dict[str, Any]:
        registrations = (await reporting.get("/reports/registrations", **period)).json()
        kpis = (await reporting.get("/reports/kpis", **period)).json()
        plans = (await reporting.get("/reports/plans", **period)).json()
        return {
            "registered": registrations["total"]["people"],
            "wave": [
                cell["people"]
                for cell in registrations["breakdowns"]["return_type"]
                if cell["value"] == "emergency_evacuation"
            ],
            "aided_in_time": kpis["immediate_assistance_within_72h"]["people"],
            "with_grant": kpis["reintegration_aid"]["people"],
            "participants": kpis["launched_activity"]["people"],
            "with_plan": plans["with_plan"]["people"],
            "plan_within_a_month": plans["agreed_within_aim"]["people"],
        }

    # `played` waited for empty outboxes and no consumer lag, gauges each refreshed on a
    # timer of its own: the scenario's last events can still be on their way to reporting.
    reported = await eventually(
        figures,
        until=lambda reported: reported == expected,
        within=60,
        what=f"the reports of the period to count what was done: {expected}",
    )
    assert reported == expected


async def test_returnees_with_sms_consent_get_their_welcome_sms_recorded(
    infra: Infra, played: tuple[Scenario, Outcome, ApiClient, Endpoints]
) -> None:
    scenario, outcome, _, endpoints = played
    consented = {
        outcome.returnee_ids[planned.index]: bool(planned.registration["consents"]["sms_contact"])
        for planned in scenario.returnees[:10]
    }
    notifications = ApiClient(endpoints.notifications, dev_token(infra.jwt_secret, "case_worker"))

    async def with_sms() -> dict[str, bool]:
        recorded = {}
        for returnee_id in consented:
            listed = (await notifications.get("/notifications", returnee_id=returnee_id)).json()
            recorded[returnee_id] = any(n["channel"] == "sms" for n in listed["items"])
        return recorded

    try:
        # Nothing in `played` waits for the notifications consumer: it records on its own time.
        recorded = await eventually(
            with_sms,
            until=lambda recorded: all(recorded[r] for r, consent in consented.items() if consent),
            within=60,
            what="an SMS recorded for each returnee who consented",
        )
    finally:
        await notifications.close()
    for returnee_id, consent in consented.items():
        if consent:
            assert recorded[returnee_id], f"no SMS recorded for {returnee_id}"
        else:
            assert not recorded[returnee_id], f"an SMS for {returnee_id}, who did not consent"
