"""A reintegration case's life across the four running services (make up), through their
public HTTP APIs (issue 15's acceptance): assignment, assessments, an agreed plan with a
referral, two follow-up visits, closure and reopening; every step's event on Kafka, valid
against the committed schemas; reporting shows each step, and a rebuild of reporting from those
events makes the same rows. Then who may do what, per centre; then the follow-up reminder SMS:
once per visit, in the returnee's language, and never after an erasure or a withdrawal of SMS
consent.

Each test invents its own people and staff, so the shared stack's other records never change
what it checks.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import jsonschema
import pytest
from test_erasure_end_to_end import rebuilt_rows
from test_notifications_gateways import FakeSmsCentre, new_phone
from test_registration_lifecycle import Stack, person

from retour_contracts import CASE_EVENTS, EventSpec, parse_envelope, spec_for_topic
from retour_kit.auth import issue_dev_token
from retour_test_infra import FRESH_IDEMPOTENCY_KEYS, Infra, TopicProbe, eventually

pytestmark = pytest.mark.integration

SCHEMAS = Path(__file__).resolve().parents[1] / "contracts" / "schemas"
REPORTED = tuple(spec.topic for spec in CASE_EVENTS if "reporting" in spec.consumers)
REMINDER = "follow_up_reminder_sms"
# The records the walk through a case makes, per topic.
EXPECTED = {
    "returnee.registered": 1,
    "case.assigned": 1,
    "reintegration.assessed": 3,  # the baseline and two visits
    "reintegration.plan_agreed": 1,
    "referral.updated": 3,  # sent, accepted, completed
    "follow_up.scheduled": 4,  # three visits, and the one not made again at the reopening
    "case.closed": 1,
    "case.reopened": 1,
}


class Staff:
    """A member of staff with a token of their own: a role, a name, the centres they work at."""

    def __init__(self, stack: Stack, role: str, *centres: str) -> None:
        self.name = f"{role}.{'-'.join(centres)}.{uuid.uuid4().hex[:8]}"
        token = issue_dev_token(stack.infra.jwt_secret, role, subject=self.name, centres=centres)
        self.headers = {"Authorization": f"Bearer {token}"}
        self.http = stack.http
        self.url = stack.at.reintegration

    async def get(self, path: str, **params: Any) -> httpx.Response:
        return await self.http.get(f"{self.url}{path}", params=params, headers=self.headers)

    async def post(self, path: str, body: Any) -> httpx.Response:
        return await self.http.post(f"{self.url}{path}", json=body, headers=self.headers)

    async def ok(self, path: str, body: Any, status: int = 200) -> dict[str, Any]:
        answer = await self.post(path, body)
        assert answer.status_code == status, f"{path}: {answer.status_code} {answer.text}"
        result: dict[str, Any] = answer.json()
        return result


async def due_list(worker: Staff, **params: Any) -> set[str]:
    """The returnees of every visit due on ``worker``'s list, page by page: the shared stack
    keeps the demo's and earlier tests' cases, so a first page may end before this test's."""
    found: set[str] = set()
    cursor: str | None = None
    while True:
        paging = {"cursor": cursor} if cursor else {}
        answer = await worker.get(
            "/follow-ups", due_before="2100-01-01", limit=200, **params, **paging
        )
        assert answer.status_code == 200, answer.text
        found |= {item["returnee_id"] for item in answer.json()["items"]}
        cursor = answer.json()["next_cursor"]
        if cursor is None:
            return found


@pytest.fixture
async def stack(infra: Infra) -> Any:
    async with httpx.AsyncClient(timeout=30, event_hooks=FRESH_IDEMPOTENCY_KEYS) as http:
        yield Stack(http, infra)


def on_the_wire(record: Any) -> Any:
    """The record parses as its contract's event and is valid against the committed schema."""
    spec: EventSpec[Any] = spec_for_topic(record.topic)
    schema = json.loads((SCHEMAS / spec.schema_file).read_text())
    jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    ).validate(json.loads(record.value))
    return parse_envelope(record.topic, record.key, record.value, record.headers).event


async def case_rows(infra: Infra, schema: str, returnee_id: str) -> list[str]:
    """The person's rows in reporting's case tables, as text, in a fixed order."""
    conn = await asyncpg.connect(infra.dsn("reporting"))
    try:
        await conn.execute(f"SET search_path = {schema}")
        rows = await conn.fetch(
            "SELECT t || ' ' || r AS row FROM ("
            " SELECT 'closure' AS t, c::text AS r FROM case_closures c WHERE returnee_id = $1"
            " UNION ALL SELECT 'reopening', o::text FROM case_reopenings o WHERE returnee_id = $1"
            " UNION ALL SELECT 'plan', p::text FROM plans_agreed p WHERE returnee_id = $1"
            " UNION ALL SELECT 'referral', f::text FROM referrals f WHERE returnee_id = $1"
            " UNION ALL SELECT 'visit', v::text FROM follow_ups v WHERE returnee_id = $1"
            " UNION ALL SELECT 'survey', a::text FROM assessments a WHERE returnee_id = $1"
            ") everything ORDER BY 1",
            uuid.UUID(returnee_id),
        )
    finally:
        await conn.close()
    return [row["row"] for row in rows]


async def report(stack: Stack, name: str, day: str) -> dict[str, Any]:
    answer = await stack.http.get(
        f"{stack.at.reporting}/reports/{name}",
        params={"from": day, "to": day},
        headers={"Authorization": f"Bearer {issue_dev_token(stack.infra.jwt_secret, 'analyst')}"},
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def answers(level: str) -> dict[str, str]:
    """A survey answered at one level everywhere: "good" (0.75) or "fair" (0.5) where a
    rating is asked, the nearest answer elsewhere; able to stay."""
    good = level == "good"
    scales = {
        "rating": "good" if good else "fair",
        "frequency": "rarely" if good else "sometimes",
        "participation": "often" if good else "sometimes",
    }
    return {
        "economic_satisfaction": "satisfied" if good else "neutral",
        "food_reduction": scales["frequency"],
        "can_borrow": "yes" if good else "no",
        "borrowing_frequency": scales["frequency"],
        "debt_vs_spending": "spending_larger",
        "access_to_opportunities": scales["rating"],
        "currently_working": "yes" if good else "no",
        "productive_assets": "owns_assets" if good else "none",
        "looking_for_job": "no" if good else "yes",
        "access_to_housing": scales["rating"],
        "housing_condition": scales["rating"],
        "access_to_education": scales["rating"],
        "children_in_school": "all" if good else "some",
        "access_to_justice": scales["rating"],
        "has_identity_document": "yes",
        "access_to_documentation": scales["rating"],
        "access_to_safe_water": scales["rating"],
        "access_to_health_care": scales["rating"],
        "health_care_quality": scales["rating"],
        "social_activities": scales["participation"],
        "support_network": "good" if good else "fair",
        "sense_of_belonging": "somewhat_agree" if good else "neither",
        "physical_safety": "safe_most_of_the_time" if good else "neutral",
        "family_conflict": scales["frequency"],
        "discrimination": scales["frequency"],
        "distress": scales["frequency"],
        "wants_psychological_support": "no" if good else "yes",
        "able_to_stay": "yes",
    }


async def registered_case(stack: Stack, centre: str, **changes: Any) -> dict[str, Any]:
    body = person(centre=centre, phone=None, language="fr")
    body.update(changes)
    registered = await stack.register(body)
    case = await stack.case(registered["returnee_id"])
    assert len(case["follow_ups"]) == 3, case["follow_ups"]
    return registered


async def test_a_case_goes_from_assignment_to_closure_and_reopening_and_reporting_agrees(
    stack: Stack, infra: Infra
) -> None:
    supervisor = Staff(stack, "supervisor", "kayes")
    worker = Staff(stack, "case_worker", "kayes")
    topics = ["returnee.registered", *(spec.topic for spec in CASE_EVENTS)]
    probes = [TopicProbe(infra.kafka_bootstrap, topic) for topic in topics]
    for probe in probes:
        await probe.__aenter__()
    try:
        registered = await registered_case(stack, "kayes")
        returnee_id, arrival = registered["returnee_id"], registered["arrival_date"]
        case = f"/cases/{returnee_id}"
        plans_before = await report(stack, "plans", arrival)
        today = datetime.now(UTC).date().isoformat()  # closures count by the day they happen
        closures_before = await report(stack, "closures", today)

        # 1. Assignment: the case worker is known once they have used the service.
        assert (await worker.get("/cases", assigned_to="me")).status_code == 200
        await supervisor.ok(f"{case}/assignment", {"case_worker": worker.name})
        mine = (await worker.get("/cases", assigned_to="me")).json()["items"]
        assert [c["returnee_id"] for c in mine] == [returnee_id]

        # 2. Assessments: family and vulnerabilities, then the survey as a baseline.
        await worker.ok(
            f"{case}/assessments",
            {
                "kind": "vulnerability_family",
                "vulnerabilities": ["mental_health"],
                "household_size": 6,
                "dependants": 3,
                "family_support": "some",
                "family_attitude": "disappointed",
            },
            201,
        )
        baseline = await worker.ok(
            f"{case}/assessments",
            {"kind": "sustainability_baseline", "answers": answers("fair")},
            201,
        )
        assert baseline["scores"] is not None

        # 3. A plan with a partner's item, agreed within the month; 4. its referral.
        partner = await supervisor.ok(
            "/partners",
            {
                "name": f"Atelier de couture {uuid.uuid4().hex[:6]} (test)",
                "centres": ["kayes"],
                "services": ["vocational_training"],
                "contact": {"name": "Accueil", "phone": "+223 20 00 00 00"},
            },
            201,
        )
        agreed_on = (date.fromisoformat(arrival) + timedelta(days=20)).isoformat()
        draft = await worker.ok(
            f"{case}/plan/revisions",
            {
                "items": [
                    {
                        "dimension": "economic",
                        "category": "vocational_training",
                        "provider": "partner",
                        "partner_id": partner["partner_id"],
                        "target_date": agreed_on,
                        "status": "planned",
                    },
                    {
                        "dimension": "psychosocial",
                        "category": "psychosocial",
                        "provider": "retour",
                        "target_date": agreed_on,
                        "status": "planned",
                    },
                ]
            },
            201,
        )
        revision = draft["revision"]
        await worker.ok(f"{case}/plan/agreement", {"revision": revision, "agreed_on": agreed_on})
        plan = (await worker.get(f"{case}/plan")).json()
        assert plan["agreed_within_a_month"] is True
        [item] = [i for i in plan["agreed"]["items"] if i["provider"] == "partner"]
        referral = await worker.ok(f"{case}/referrals", {"plan_item_id": item["item_id"]}, 201)
        for status in ("accepted", "completed"):
            await worker.ok(f"/referrals/{referral['referral_id']}/status", {"status": status})

        # 5. Two follow-up visits, at 3 and 6 months, the person doing better.
        visits = {v["period_months"]: v for v in (await stack.case(returnee_id))["follow_ups"]}
        for period, level in ((3, "fair"), (6, "good")):
            visit = visits[period]
            await worker.ok(
                f"{case}/follow-ups/{visit['follow_up_id']}/visit",
                {"outcome": "completed", "visited_on": visit["due_on"], "answers": answers(level)},
                201,
            )

        # 6. Closure, and reopening.
        await worker.ok(f"{case}/close", {"reason": "reintegration_completed"})
        await supervisor.ok(f"{case}/reopening", {"reason": "new_needs"})

        mine_bytes = returnee_id.encode()

        def enough(topic: str) -> Callable[[list[Any]], bool]:
            return lambda got: sum(r.key == mine_bytes for r in got) >= EXPECTED[topic]

        records = {
            probe.topic: [
                r
                for r in await probe.collect(enough(probe.topic), within=60)
                if r.key == mine_bytes
            ]
            for probe in probes
        }
    finally:
        for probe in probes:
            await probe.__aexit__()

    events = {topic: [on_the_wire(r) for r in found] for topic, found in records.items()}
    assert len(events.pop("returnee.registered")) == 1
    assert [e.assigned_to for e in events["case.assigned"]] == [worker.name]
    assert [e.kind.value for e in events["reintegration.assessed"]] == [
        "baseline",
        "follow_up",
        "follow_up",
    ]
    composite = [e.scores.composite for e in events["reintegration.assessed"]]
    assert composite[0] == composite[1] < composite[2]  # the same answers, then better ones
    assert [e.revision for e in events["reintegration.plan_agreed"]] == [revision]
    assert [e.status.value for e in events["referral.updated"]] == [
        "sent",
        "accepted",
        "completed",
    ]
    assert [e.reason.value for e in events["case.closed"]] == ["reintegration_completed"]
    assert [e.reason.value for e in events["case.reopened"]] == ["new_needs"]
    # Three visits when the case opened, and the one not made again when it reopened.
    assert sorted(e.period_months for e in events["follow_up.scheduled"]) == [3, 6, 12, 12]

    # Reporting shows each step: its rows, and the reports of the person's arrival day.
    rows = await eventually(
        lambda: case_rows(infra, "reporting", returnee_id),
        until=lambda rows: (
            sum(r.startswith("reopening") for r in rows) == 1
            and sum(r.startswith("survey") for r in rows) == 3
        ),
        what="reporting's rows of the case",
    )
    assert [r.split(" ", 1)[0] for r in rows] == [
        "closure",
        "plan",
        "referral",
        "reopening",
        *["survey"] * 3,
        *["visit"] * 3,
    ]
    assert ",completed," in next(r for r in rows if r.startswith("referral"))
    plans = await report(stack, "plans", arrival)
    assert plans["with_plan"]["people"] == plans_before["with_plan"]["people"] + 1
    assert plans["agreed_within_aim"]["people"] == plans_before["agreed_within_aim"]["people"] + 1
    # Other tests' closures of today may still be on their way: at least this one is counted.
    closures = await eventually(
        lambda: report(stack, "closures", today),
        until=lambda now: now["reopenings"]["cases"] > closures_before["reopenings"]["cases"],
        what="the reopening in the closures report",
    )
    reopened = {cell["value"]: cell["cases"] for cell in closures["reopenings_by_reason"]}
    before = {cell["value"]: cell["cases"] for cell in closures_before["reopenings_by_reason"]}
    assert reopened["new_needs"] > before.get("new_needs", 0)

    # A rebuild of reporting from the same events makes the same rows.
    replayed = [r for topic in ("returnee.registered", *REPORTED) for r in records[topic]]
    assert await rebuilt_rows(infra, replayed, returnee_id, rows=case_rows) == rows


async def test_a_case_worker_keeps_to_their_own_cases_and_centre(stack: Stack) -> None:
    kayes_worker = Staff(stack, "case_worker", "kayes")
    other_worker = Staff(stack, "case_worker", "kayes")
    gao_worker = Staff(stack, "case_worker", "gao")
    for worker in (kayes_worker, other_worker, gao_worker):
        assert (await worker.get("/cases", assigned_to="me")).status_code == 200
    registered = await registered_case(stack, "kayes")
    case = f"/cases/{registered['returnee_id']}"

    # A case worker cannot assign a case to someone else...
    refused = await kayes_worker.post(f"{case}/assignment", {"case_worker": other_worker.name})
    assert refused.status_code == 403, refused.text
    assert "body.case_worker" in refused.text
    # ...nor see another centre's due list...
    due = await gao_worker.get("/follow-ups", due_before="2100-01-01", centre="kayes")
    assert due.status_code in (200, 403)
    if due.status_code == 200:
        assert registered["returnee_id"] not in await due_list(gao_worker, centre="kayes")
    assert registered["returnee_id"] not in await due_list(gao_worker)
    assert registered["returnee_id"] in await due_list(kayes_worker)
    # ...nor record a visit on a case of another centre: to them it does not exist.
    visit = (await stack.case(registered["returnee_id"]))["follow_ups"][0]
    recorded = await gao_worker.post(
        f"{case}/follow-ups/{visit['follow_up_id']}/visit",
        {"outcome": "unreachable", "visited_on": visit["due_on"]},
    )
    assert recorded.status_code == 404, recorded.text
    # Taking an unassigned case of their own centre is allowed.
    taken = await kayes_worker.post(f"{case}/assignment", {"case_worker": kayes_worker.name})
    assert taken.status_code == 200, taken.text


def arrived_for_a_visit_due_in(days: int) -> str:
    """An arrival day whose 3-month visit is due ``days`` from today (the 6- and 12-month
    visits are months away)."""
    today = datetime.now(UTC).date()
    target = today + timedelta(days=days)
    month = target.month - 3
    year = target.year + (month - 1) // 12
    month = (month - 1) % 12 + 1
    for day in (target.day, 28):  # the 29th to 31st may not exist three months earlier
        try:
            return date(year, month, day).isoformat()
        except ValueError:
            continue
    raise AssertionError("unreachable")


async def reminders_of(stack: Stack, returnee_id: str) -> list[dict[str, Any]]:
    return [n for n in await stack.notifications(returnee_id) if n["rule"] == REMINDER]


async def test_the_reminder_sms_goes_once_per_visit_in_the_returnees_language(
    stack: Stack,
) -> None:
    sms = FakeSmsCentre()
    phone = new_phone()
    body = person(centre="bamako", phone=phone, language="en")
    body["arrival_date"] = arrived_for_a_visit_due_in(2)
    registered = await stack.register(body)
    returnee_id = registered["returnee_id"]
    supervisor = Staff(stack, "supervisor", "bamako")

    [reminder] = await eventually(
        lambda: reminders_of(stack, returnee_id),
        until=lambda found: any(n["status"] == "sent" for n in found),
        within=90,
        what="the reminder, sent",
    )
    assert reminder["language"] == "en"
    # Published again (closed and reopened: the visits not made are scheduled again), the
    # visit is the same visit: no second reminder.
    case = f"/cases/{returnee_id}"
    await supervisor.ok(f"{case}/close", {"reason": "returnee_declined"})
    await supervisor.ok(f"{case}/reopening", {"reason": "returnee_resumed"})
    await eventually(
        lambda: stack.case(returnee_id),
        until=lambda c: c["status"] == "open" and len(c["reopenings"]) == 1,
        what="the case reopened",
    )
    received = await eventually(
        lambda: sms.to(phone), until=lambda got: len(got) >= 2, within=60, what="the SMS"
    )
    await _settled(stack)
    assert len(await reminders_of(stack, returnee_id)) == 1
    assert len(sms.to(phone)) == len(received) == 2  # the welcome and the one reminder


async def _settled(stack: Stack) -> None:
    """Until every outbox and consumer of the stack has nothing left (as the demo waits)."""
    from retour_demo.client import Endpoints
    from retour_demo.report import wait_until_caught_up

    at = stack.at
    await wait_until_caught_up(
        Endpoints(at.intake, at.reintegration, at.notifications, at.reporting), within=120
    )


async def test_no_reminder_after_a_withdrawal_of_sms_consent(stack: Stack, infra: Infra) -> None:
    sms = FakeSmsCentre()
    phone = new_phone()
    body = person(centre="gao", phone=phone, language="fr")
    body["arrival_date"] = arrived_for_a_visit_due_in(30)  # its reminder waits 27 days
    withdrawn = (await stack.register(body))["returnee_id"]
    await eventually(lambda: sms.to(phone), until=bool, within=60, what="the welcome SMS")
    decided = await stack.http.post(
        f"{stack.at.intake}/returnees/{withdrawn}/consents",
        json={"sms_contact": False},
        headers=_dpo(infra),
    )
    assert decided.status_code == 200, decided.text
    await _settled(stack)

    # Then the arrival day is corrected: the visit is due in two days, its reminder at once.
    due_soon = arrived_for_a_visit_due_in(2)
    await stack.correct(withdrawn, {"reason": "data_entry_error", "arrival_date": due_soon})
    await eventually(
        lambda: stack.case(withdrawn),
        until=lambda case: case["arrival_date"] == due_soon,
        what="the visits moved with the arrival day",
    )
    await _settled(stack)
    # Someone else whose visit is due the same day, registered now: once their reminder has
    # gone, the follow-up worker has looked at both visits since the correction.
    control_phone = new_phone()
    control = person(centre="gao", phone=control_phone, language="fr")
    control["arrival_date"] = due_soon
    control_id = (await stack.register(control))["returnee_id"]
    await eventually(
        lambda: reminders_of(stack, control_id),
        until=lambda found: any(n["status"] == "sent" for n in found),
        within=90,
        what="the other person's reminder",
    )

    assert await reminders_of(stack, withdrawn) == []
    assert len(sms.to(phone)) == 1  # the welcome, before the withdrawal


async def test_an_erasure_leaves_notifications_nothing_to_remind(
    stack: Stack, infra: Infra
) -> None:
    sms = FakeSmsCentre()
    phone = new_phone()
    body = person(centre="gao", phone=phone, language="fr")
    body["arrival_date"] = arrived_for_a_visit_due_in(30)
    returnee_id = (await stack.register(body))["returnee_id"]
    await eventually(lambda: sms.to(phone), until=bool, within=60, what="the welcome SMS")
    held = await eventually(
        lambda: follow_up_rows(infra, returnee_id),
        until=lambda rows: len(rows) == 3,
        what="notifications' three visits of the person",
    )
    assert held

    erased = await stack.http.post(
        f"{stack.at.intake}/returnees/{returnee_id}/erasure",
        json={"reason": "data_subject_request"},
        headers=_dpo(infra),
    )
    assert erased.status_code in (200, 202), erased.text
    await eventually(
        lambda: follow_up_rows(infra, returnee_id),
        until=lambda rows: rows == [],
        what="notifications forgetting the person's visits",
    )
    # The case lives on in reintegration, whose reopening schedules the visits again: the
    # visits come back, but never a phone to remind them on, nor a reminder.
    supervisor = Staff(stack, "supervisor", "gao")
    case = f"/cases/{returnee_id}"
    await supervisor.ok(f"{case}/close", {"reason": "returnee_declined"})
    await supervisor.ok(f"{case}/reopening", {"reason": "returnee_resumed"})
    await _settled(stack)

    assert await reminders_of(stack, returnee_id) == []
    assert await contact_of(infra, returnee_id) is None
    assert len(sms.to(phone)) == 1  # the welcome, before the erasure


def _dpo(infra: Infra) -> dict[str, str]:
    token = issue_dev_token(infra.jwt_secret, "data_protection_officer")
    return {"Authorization": f"Bearer {token}"}


async def follow_up_rows(infra: Infra, returnee_id: str) -> list[str]:
    return await _notifications_rows(
        infra, "SELECT f::text AS row FROM follow_ups f WHERE returnee_id = $1", returnee_id
    )


async def contact_of(infra: Infra, returnee_id: str) -> str | None:
    rows = await _notifications_rows(
        infra,
        "SELECT phone AS row FROM contacts WHERE returnee_id = $1 AND phone IS NOT NULL",
        returnee_id,
    )
    return rows[0] if rows else None


async def _notifications_rows(infra: Infra, query: str, returnee_id: str) -> list[str]:
    conn = await asyncpg.connect(infra.dsn("notifications"))
    try:
        await conn.execute("SET search_path = notifications")
        return [row["row"] for row in await conn.fetch(query, uuid.UUID(returnee_id))]
    finally:
        await conn.close()
