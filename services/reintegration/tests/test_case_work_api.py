"""Case work over HTTP, with the service's lifespan running against the real database and
broker: assignment and the roster, assessments, the due list and visits, reopening, and who may
do each. Cases are opened the real way, from registrations on a private topic."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date, timedelta
from typing import Any
from uuid import UUID

import pytest

from retour_contracts import CASE_ASSIGNED_V1, REINTEGRATION_ASSESSED_V1
from retour_kit.auth import Role
from retour_kit.pagination import encode_cursor
from retour_reintegration.domain.follow_up import example_answers, follow_up_id_of, months_after
from retour_test_infra import Infra, TopicProbe

from .reintegration_http import (
    TODAY,
    CaseOpener,
    ServedApp,
    Staff,
    assert_on_the_wire,
    first_with,
    served,
)

pytestmark = pytest.mark.integration

RUN = uuid.uuid4().hex[:8]
"""Staff ids of this run: the roster and the workload are shared with every other test."""


@pytest.fixture(scope="module")
async def app(infra: Infra) -> AsyncIterator[ServedApp]:
    async with served(infra, "casework", partitions=2) as app:
        yield app


StaffOf = Callable[..., Awaitable[Staff]]


@pytest.fixture(scope="module")
def staff(app: ServedApp) -> StaffOf:
    async def made(role: Role, name: str, *centres: str) -> Staff:
        """A staff member who has used reintegration once (a case worker is then on the
        roster)."""
        member = app.staff(role, f"{name}.{RUN}", *centres)
        assert (await member.get("/sustainability-survey")).status_code == 200
        return member

    return made


@pytest.fixture(scope="module")
async def open_case(app: ServedApp) -> AsyncIterator[CaseOpener]:
    national = app.staff(Role.SUPERVISOR, f"national.{RUN}")
    async with app.opening_cases(reader=national) as opener:
        yield opener


class TestAssignment:
    async def test_a_supervisor_assigns_a_case_to_a_case_worker_of_its_centre(
        self, open_case: CaseOpener, staff: StaffOf, infra: Infra
    ) -> None:
        returnee_id = await open_case("gao")
        worker = await staff(Role.CASE_WORKER, "worker.gao.a", "gao")
        supervisor = await staff(Role.SUPERVISOR, "supervisor.gao", "gao")

        async with TopicProbe(infra.kafka_bootstrap, CASE_ASSIGNED_V1.topic) as probe:
            answer = await supervisor.post(
                f"/cases/{returnee_id}/assignment", {"case_worker": worker.subject}
            )
            assert answer.status_code == 200, answer.text
            record = await first_with(probe, "returnee_id", str(returnee_id))

        assert answer.json()["assigned_to"] == worker.subject
        event = assert_on_the_wire(record, CASE_ASSIGNED_V1)
        assert (event.assigned_to, event.assigned_by, event.previous) == (
            worker.subject,
            supervisor.subject,
            None,
        )
        case = (await worker.get(f"/cases/{returnee_id}")).json()
        assert [(a["assigned_to"], a["assigned_by"]) for a in case["assignments"]] == [
            (worker.subject, supervisor.subject)
        ]
        mine = (await worker.get("/cases", assigned_to="me", limit=200)).json()["items"]
        assert [item["returnee_id"] for item in mine] == [str(returnee_id)]
        theirs = await supervisor.get("/cases", assigned_to=worker.subject)
        assert [item["returnee_id"] for item in theirs.json()["items"]] == [str(returnee_id)]

    async def test_a_case_worker_takes_an_unassigned_case_and_assigns_no_one_else(
        self, open_case: CaseOpener, staff: StaffOf
    ) -> None:
        returnee_id = await open_case("gao")
        path = f"/cases/{returnee_id}/assignment"
        worker = await staff(Role.CASE_WORKER, "worker.gao.b", "gao")
        colleague = await staff(Role.CASE_WORKER, "worker.gao.c", "gao")

        others = await worker.post(path, {"case_worker": colleague.subject})
        taken = await worker.post(path, {"case_worker": worker.subject})
        taken_again = await colleague.post(path, {"case_worker": colleague.subject})

        assert others.status_code == 403
        assert (others.json()["error"], others.json()["field"]) == (
            "assignment_not_allowed",
            "body.case_worker",
        )
        assert taken.status_code == 200
        assert taken.json()["assigned_to"] == worker.subject
        assert taken_again.status_code == 403
        assert taken_again.json()["error"] == "case_already_assigned"

    async def test_the_assignee_must_have_used_reintegration_at_the_cases_centre(
        self, open_case: CaseOpener, staff: StaffOf
    ) -> None:
        returnee_id = await open_case("gao")
        supervisor = await staff(Role.SUPERVISOR, "supervisor.gao", "gao")
        elsewhere = await staff(Role.CASE_WORKER, "worker.kayes.a", "kayes")
        path = f"/cases/{returnee_id}/assignment"

        for case_worker in (elsewhere.subject, f"never.seen.{RUN}"):
            refused = await supervisor.post(path, {"case_worker": case_worker})
            assert refused.status_code == 422, refused.text
            assert (refused.json()["error"], refused.json()["field"]) == (
                "case_worker_unknown",
                "body.case_worker",
            )

    async def test_a_case_worker_lists_only_their_own_assignments(self, staff: StaffOf) -> None:
        worker = await staff(Role.CASE_WORKER, "worker.gao.d", "gao")

        refused = await worker.get("/cases", assigned_to="supervisor.gao")
        both = await worker.get("/cases", assigned_to="me", unassigned="true")

        assert refused.status_code == 403
        assert refused.json()["field"] == "query.assigned_to"
        assert both.status_code == 422

    async def test_supervisors_see_the_workload_of_their_centres_case_workers(
        self, open_case: CaseOpener, staff: StaffOf
    ) -> None:
        overdue_case = await open_case("mopti", arrival=TODAY - timedelta(days=120))
        recent_case = await open_case("mopti")
        worker = await staff(Role.CASE_WORKER, "worker.mopti.a", "mopti")
        idle = await staff(Role.CASE_WORKER, "worker.mopti.idle", "mopti")
        supervisor = await staff(Role.SUPERVISOR, "supervisor.mopti", "mopti")
        for returnee_id in (overdue_case, recent_case):
            answer = await supervisor.post(
                f"/cases/{returnee_id}/assignment", {"case_worker": worker.subject}
            )
            assert answer.status_code == 200, answer.text
        await open_case("mopti")  # nobody's yet

        window = 200
        answer = await supervisor.get("/case-workers", due_within_days=window)
        refused = await worker.get("/case-workers")
        gao_view = await (await staff(Role.SUPERVISOR, "supervisor.gao", "gao")).get(
            "/case-workers"
        )

        dates = [
            months_after(arrival, months)
            for arrival in (TODAY - timedelta(days=120), TODAY)
            for months in (3, 6, 12)
        ]
        overdue = sum(1 for day in dates if day < TODAY)
        due = sum(1 for day in dates if TODAY <= day < TODAY + timedelta(days=window))
        assert answer.status_code == 200
        loads = {item["subject"]: item for item in answer.json()["items"]}
        assert (
            loads[worker.subject]["open_cases"],
            loads[worker.subject]["follow_ups_overdue"],
            loads[worker.subject]["follow_ups_due"],
        ) == (2, overdue, due)
        assert loads[worker.subject]["centres"] == ["mopti"]
        assert (
            loads[idle.subject]["open_cases"],
            loads[idle.subject]["last_seen"] is not None,
        ) == (
            0,
            True,
        )
        assert answer.json()["unassigned_open_cases"] >= 1
        assert refused.status_code == 403
        assert worker.subject not in {item["subject"] for item in gao_view.json()["items"]}


def due_list_from(day: date, **params: Any) -> dict[str, Any]:
    """The due list's parameters for visits due on ``day`` alone: the shared database holds
    every other test's visits, so the listing starts just before that day (a keyset cursor)."""
    return {
        "due_before": (day + timedelta(days=1)).isoformat(),
        "cursor": encode_cursor(day - timedelta(days=1), UUID(int=0)),
        **params,
    }


class TestFollowUps:
    async def test_the_due_list_holds_the_callers_centres_open_cases_by_due_date(
        self, open_case: CaseOpener, staff: StaffOf
    ) -> None:
        arrival = TODAY - timedelta(days=111)
        due_on = months_after(arrival, 3)
        kayes = [await open_case("kayes", arrival=arrival) for _ in range(3)]
        gao = await open_case("gao", arrival=arrival)
        kayes_worker = await staff(Role.CASE_WORKER, "worker.kayes.b", "kayes")

        first = await kayes_worker.get("/follow-ups", **due_list_from(due_on, limit=2))
        listed = first.json()["items"]
        cursor = first.json()["next_cursor"]
        rest = (
            await kayes_worker.get(
                "/follow-ups", due_before=(due_on + timedelta(days=1)).isoformat(), cursor=cursor
            )
        ).json()["items"]

        assert first.status_code == 200
        assert len(listed) == 2 and cursor
        everything = listed + rest
        mine = {str(follow_up_id_of(returnee_id, 3)) for returnee_id in kayes}
        assert mine <= {item["follow_up_id"] for item in everything}
        assert str(follow_up_id_of(gao, 3)) not in {item["follow_up_id"] for item in everything}
        assert {item["reception_centre"] for item in everything} == {"kayes"}
        assert [item["due_on"] for item in everything] == sorted(
            item["due_on"] for item in everything
        )
        assert {item["period_months"] for item in everything if item["follow_up_id"] in mine} == {3}

    async def test_a_case_worker_filters_the_due_list_on_their_cases(
        self, open_case: CaseOpener, staff: StaffOf
    ) -> None:
        arrival = TODAY - timedelta(days=112)
        due_on = months_after(arrival, 3)
        taken, other = (
            await open_case("bamako", arrival=arrival),
            await open_case("bamako", arrival=arrival),
        )
        worker = await staff(Role.CASE_WORKER, "worker.bamako.a", "bamako")
        await worker.post(f"/cases/{taken}/assignment", {"case_worker": worker.subject})

        mine = (await worker.get("/follow-ups", **due_list_from(due_on, assigned_to="me"))).json()

        ids = {item["follow_up_id"] for item in mine["items"]}
        assert str(follow_up_id_of(taken, 3)) in ids
        assert str(follow_up_id_of(other, 3)) not in ids
        assert {item["assigned_to"] for item in mine["items"]} == {worker.subject}

    async def test_a_visit_is_recorded_unreachable_then_completed_once(
        self, open_case: CaseOpener, staff: StaffOf, infra: Infra
    ) -> None:
        returnee_id = await open_case("gao", arrival=TODAY - timedelta(days=95))
        worker = await staff(Role.CASE_WORKER, "worker.gao.e", "gao")
        path = f"/cases/{returnee_id}/follow-ups/{follow_up_id_of(returnee_id, 3)}/visit"
        survey = {"outcome": "completed", "visited_on": TODAY.isoformat()}

        unreachable = await worker.post(
            path, {"outcome": "unreachable", "visited_on": TODAY.isoformat()}
        )
        no_answers = await worker.post(path, survey)
        wrong = await worker.post(
            path, {**survey, "answers": {**example_answers(), "distress": "hourly"}}
        )
        async with TopicProbe(infra.kafka_bootstrap, REINTEGRATION_ASSESSED_V1.topic) as probe:
            completed = await worker.post(path, {**survey, "answers": dict(example_answers())})
            assert completed.status_code == 201, completed.text
            record = await first_with(probe, "assessment_id", completed.json()["assessment_id"])
        again = await worker.post(path, {**survey, "answers": dict(example_answers())})

        assert unreachable.status_code == 201
        assert unreachable.json()["scores"] is None
        assert no_answers.status_code == 422
        assert [e["field"] for e in no_answers.json()["errors"]] == ["body.answers"]
        assert wrong.status_code == 422
        assert [e["field"] for e in wrong.json()["errors"]] == ["body.answers.distress"]
        assert "hourly" not in wrong.text
        event = assert_on_the_wire(record, REINTEGRATION_ASSESSED_V1)
        assert event.scores.model_dump() == completed.json()["scores"]
        assert "answers" not in json.loads(record.value)
        assert again.status_code == 409
        assert again.json()["error"] == "follow_up_completed"
        case = (await worker.get(f"/cases/{returnee_id}")).json()
        (visit,) = [f for f in case["follow_ups"] if f["period_months"] == 3]
        assert visit["completed_on"] == TODAY.isoformat()
        assert [v["outcome"] for v in visit["visits"]] == ["unreachable", "completed"]

    async def test_another_centre_sees_neither_the_case_nor_its_visits(
        self, open_case: CaseOpener, staff: StaffOf
    ) -> None:
        returnee_id = await open_case("gao", arrival=TODAY - timedelta(days=95))
        stranger = await staff(Role.CASE_WORKER, "worker.tombouctou", "tombouctou")
        visit = f"/cases/{returnee_id}/follow-ups/{follow_up_id_of(returnee_id, 3)}/visit"
        writes = {
            visit: {"outcome": "unreachable", "visited_on": TODAY.isoformat()},
            f"/cases/{returnee_id}/assignment": {"case_worker": stranger.subject},
            f"/cases/{returnee_id}/assessments": BASELINE,
            f"/cases/{returnee_id}/reopening": {"reason": "new_needs"},
        }

        for path, body in writes.items():
            answer = await stranger.post(path, body)
            assert answer.status_code == 404, f"{path}: {answer.text}"
            assert answer.json()["error"] == "case_not_found"
        assert (await stranger.get(f"/cases/{returnee_id}/assessments")).status_code == 404
        gao_worker = await staff(Role.CASE_WORKER, "worker.gao.f", "gao")
        unknown = f"/cases/{returnee_id}/follow-ups/{uuid.uuid4()}/visit"
        missing = await gao_worker.post(unknown, writes[visit])
        assert (missing.status_code, missing.json()["error"]) == (404, "follow_up_not_found")


BASELINE = {"kind": "sustainability_baseline", "answers": dict(example_answers())}


class TestAssessments:
    async def test_assessments_are_listed_and_vulnerabilities_found_join_the_case(
        self, open_case: CaseOpener, staff: StaffOf
    ) -> None:
        returnee_id = await open_case("kayes")
        worker = await staff(Role.CASE_WORKER, "worker.kayes.c", "kayes")
        path = f"/cases/{returnee_id}/assessments"
        family = {
            "kind": "vulnerability_family",
            "vulnerabilities": ["mental_health"],
            "household_size": 8,
            "dependants": 5,
            "family_support": "strong",
            "family_attitude": "welcoming",
        }
        skills = {
            "kind": "skills",
            "education_level": "primary",
            "literacy": "reads",
            "languages": ["bm", "son"],
            "occupations": [{"sector": "livestock", "years_of_experience": 6}],
            "desired_sector": "livestock",
        }

        answers = [await worker.post(path, body) for body in (family, skills, BASELINE)]
        free_text = await worker.post(path, {**skills, "notes": "speaks good French"})
        listed = (await worker.get(path)).json()["items"]
        case = (await worker.get(f"/cases/{returnee_id}")).json()

        assert [a.status_code for a in answers] == [201, 201, 201], [a.text for a in answers]
        assert free_text.status_code == 422
        assert [a["kind"] for a in listed] == [
            "vulnerability_family",
            "skills",
            "sustainability_baseline",
        ]
        assert listed[1]["document"]["languages"] == ["bm", "son"]
        assert listed[2]["scores"] is not None and listed[0]["scores"] is None
        assert "mental_health" in case["vulnerabilities"]
        assert [v["vulnerability"] for v in case["vulnerabilities_found"]] == ["mental_health"]
        assert [a["kind"] for a in case["assessments"]] == [a["kind"] for a in listed]
        assert "document" not in case["assessments"][0]

    async def test_the_survey_is_published_for_staff(self, staff: StaffOf) -> None:
        worker = await staff(Role.CASE_WORKER, "worker.gao.g", "gao")

        survey = (await worker.get("/sustainability-survey")).json()

        codes = {question["code"] for question in survey["questions"]}
        assert set(example_answers()) <= codes
        assert survey["method"]


class TestReopening:
    async def test_a_closed_case_reopens_once_and_keeps_its_history(
        self, open_case: CaseOpener, staff: StaffOf
    ) -> None:
        returnee_id = await open_case("gao")
        worker = await staff(Role.CASE_WORKER, "worker.gao.h", "gao")
        reopening = f"/cases/{returnee_id}/reopening"

        still_open = await worker.post(reopening, {"reason": "new_needs"})
        await worker.post(f"/cases/{returnee_id}/close", {"reason": "returnee_declined"})
        closed_visit = await worker.post(
            f"/cases/{returnee_id}/follow-ups/{follow_up_id_of(returnee_id, 3)}/visit",
            {"outcome": "unreachable", "visited_on": TODAY.isoformat()},
        )
        closed_assessment = await worker.post(f"/cases/{returnee_id}/assessments", BASELINE)
        reopened = await worker.post(reopening, {"reason": "returnee_resumed"})
        case = (await worker.get(f"/cases/{returnee_id}")).json()

        assert (still_open.status_code, still_open.json()["error"]) == (409, "case_open")
        assert (closed_visit.status_code, closed_assessment.status_code) == (409, 409)
        assert reopened.status_code == 200
        assert (reopened.json()["status"], reopened.json()["closure_reason"]) == ("open", None)
        assert [(r["reason"], r["closure_reason"]) for r in case["reopenings"]] == [
            ("returnee_resumed", "returnee_declined")
        ]
