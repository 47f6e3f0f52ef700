"""The rules of case work, without I/O: visit dates, who may assign, reopening, visits and
assessments recorded."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any
from uuid import uuid4

import pytest
from pydantic import ValidationError

from retour_contracts import (
    AssessmentKind,
    ClosureReason,
    ReceptionCentre,
    ReopeningReason,
    VisitOutcome,
    Vulnerability,
)
from retour_contracts.examples import example_returnee_registered
from retour_reintegration.domain.actor import Actor
from retour_reintegration.domain.assessments import (
    AssessmentType,
    SustainabilityBaseline,
    VulnerabilityFamily,
    assess,
    newly_found,
)
from retour_reintegration.domain.assignment import assign
from retour_reintegration.domain.case import Case
from retour_reintegration.domain.closure import Reopening, closed_event
from retour_reintegration.domain.commands import RecordVisit
from retour_reintegration.domain.errors import (
    CaseClosed,
    CaseMerged,
    CaseOpen,
    CaseWorkerUnknown,
    FollowUpCompleted,
    FollowUpNotFound,
    InvalidFields,
    NotAllowed,
    RuleViolation,
)
from retour_reintegration.domain.follow_up import (
    FollowUp,
    example_answers,
    follow_up_id_of,
    months_after,
    moved,
    parse_periods,
    record_visit,
    schedule,
)
from retour_reintegration.domain.merges import Merge
from retour_reintegration.domain.sustainability import METHOD, parse_answers, score

NOW = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
GAO = frozenset({ReceptionCentre.GAO})
SUPERVISOR = Actor("supervisor.gao", centres=GAO)
WORKER = Actor("worker.gao.1", centres=GAO)


def a_case(arrival: str = "2024-08-31", centre: str = "gao", **changes: Any) -> Case:
    registration = example_returnee_registered(
        returnee_id=uuid4(), arrival_date=arrival, reception_centre=centre, registered_at=NOW
    )
    return replace(Case.open_for(registration), **changes)


class TestVisitDates:
    @pytest.mark.parametrize(
        ("arrival", "months", "due"),
        [
            (date(2024, 8, 31), 6, date(2025, 2, 28)),  # February is shorter
            (date(2023, 8, 31), 6, date(2024, 2, 29)),  # a leap year's February
            (date(2024, 11, 30), 3, date(2025, 2, 28)),
            (date(2024, 1, 31), 3, date(2024, 4, 30)),
            (date(2024, 10, 15), 3, date(2025, 1, 15)),  # into the next year
            (date(2024, 3, 15), 12, date(2025, 3, 15)),
            (date(2024, 2, 29), 12, date(2025, 2, 28)),
            (date(2024, 5, 31), 60, date(2029, 5, 31)),
        ],
    )
    def test_due_dates_are_calendar_months_clamped_to_the_month_end(
        self, arrival: date, months: int, due: date
    ) -> None:
        assert months_after(arrival, months) == due

    def test_a_case_gets_a_visit_per_period_with_stable_ids(self) -> None:
        case = a_case(arrival="2024-08-31")

        visits = schedule(case, (3, 6, 12))
        again = schedule(case, (3, 6, 12))

        assert [(v.period_months, v.due_on) for v in visits] == [
            (3, date(2024, 11, 30)),
            (6, date(2025, 2, 28)),
            (12, date(2025, 8, 31)),
        ]
        assert visits == again
        assert len({v.follow_up_id for v in visits}) == 3
        assert visits[0].follow_up_id == follow_up_id_of(case.returnee_id, 3)
        assert visits[0].follow_up_id != follow_up_id_of(uuid4(), 3)

    @pytest.mark.parametrize("text", ["6,3", "3,3,6", "0,3", "3,61", "", "3,six"])
    def test_periods_must_be_ascending_months_within_five_years(self, text: str) -> None:
        with pytest.raises(ValueError, match="period"):
            parse_periods(text)

    def test_periods_are_read_from_their_setting(self) -> None:
        assert parse_periods(" 1, 6 ,24") == (1, 6, 24)

    def test_a_corrected_arrival_moves_the_visits_not_done(self) -> None:
        before = a_case(arrival="2024-08-31")
        done, due, later = schedule(before, (3, 6, 12))
        done = replace(done, completed_on=date(2024, 12, 2))
        after = replace(before, arrival_date=date(2024, 9, 30))

        changed = moved(before, after, [done, due, later])

        assert [(v.period_months, v.due_on) for v in changed] == [
            (6, date(2025, 3, 30)),
            (12, date(2025, 9, 30)),
        ]

    def test_a_transfer_publishes_every_visit_not_done_again(self) -> None:
        before = a_case(centre="gao")
        visits = schedule(before, (3, 6))
        after = replace(before, reception_centre=ReceptionCentre.KAYES)

        assert moved(before, after, visits) == visits
        assert moved(before, replace(before, region_of_origin=after.region_of_origin), visits) == []


class TestAssignment:
    def test_a_supervisor_assigns_to_a_case_worker_of_the_centre(self) -> None:
        case = a_case()

        made = assign(
            case, to="worker.gao.1", by=SUPERVISOR, supervises=True, assignee_centres=GAO, at=NOW
        )

        assert made is not None
        event = made.event()
        assert (event.assigned_to, event.assigned_by, event.previous) == (
            "worker.gao.1",
            "supervisor.gao",
            None,
        )
        assert event.reception_centre is ReceptionCentre.GAO

    def test_a_reassignment_names_the_previous_case_worker(self) -> None:
        case = a_case(assigned_to="worker.gao.1")

        made = assign(
            case, to="worker.gao.2", by=SUPERVISOR, supervises=True, assignee_centres=GAO, at=NOW
        )

        assert made is not None
        assert made.previous == "worker.gao.1"

    def test_assigning_to_whoever_has_the_case_changes_nothing(self) -> None:
        case = a_case(assigned_to="worker.gao.1")

        assert (
            assign(
                case,
                to="worker.gao.1",
                by=SUPERVISOR,
                supervises=True,
                assignee_centres=GAO,
                at=NOW,
            )
            is None
        )

    @pytest.mark.parametrize("centres", [None, frozenset({ReceptionCentre.KAYES})])
    def test_the_assignee_must_be_a_known_case_worker_of_the_centre(
        self, centres: frozenset[ReceptionCentre] | None
    ) -> None:
        with pytest.raises(CaseWorkerUnknown) as refused:
            assign(
                a_case(),
                to="someone",
                by=SUPERVISOR,
                supervises=True,
                assignee_centres=centres,
                at=NOW,
            )

        assert refused.value.context["field"] == "body.case_worker"

    def test_a_case_worker_takes_an_unassigned_case_only_for_themselves(self) -> None:
        case = a_case()

        taken = assign(
            case, to=WORKER.subject, by=WORKER, supervises=False, assignee_centres=GAO, at=NOW
        )
        with pytest.raises(NotAllowed) as refused:
            assign(
                case, to="worker.gao.2", by=WORKER, supervises=False, assignee_centres=GAO, at=NOW
            )

        assert taken is not None
        assert taken.assigned_by == taken.assigned_to == WORKER.subject
        assert refused.value.rule == "assignment_not_allowed"
        assert refused.value.context["field"] == "body.case_worker"

    def test_a_case_worker_cannot_take_a_colleagues_case(self) -> None:
        case = a_case(assigned_to="worker.gao.2")

        with pytest.raises(NotAllowed) as refused:
            assign(
                case, to=WORKER.subject, by=WORKER, supervises=False, assignee_centres=GAO, at=NOW
            )

        assert refused.value.rule == "case_already_assigned"

    def test_a_closed_case_is_not_assigned(self) -> None:
        case = a_case().close(ClosureReason.REMIGRATED, at=NOW, by="worker.gao.1")

        with pytest.raises(CaseClosed):
            assign(
                case,
                to="worker.gao.1",
                by=SUPERVISOR,
                supervises=True,
                assignee_centres=GAO,
                at=NOW,
            )


class TestClosureAndReopening:
    def test_closure_is_published_with_its_reason_author_and_time(self) -> None:
        closed = a_case().close(ClosureReason.RETURNEE_DECLINED, at=NOW, by="worker.gao.1")

        event = closed_event(closed)

        assert (event.reason, event.closed_at, event.closed_by) == (
            ClosureReason.RETURNEE_DECLINED,
            NOW,
            "worker.gao.1",
        )

    def test_a_reopened_case_is_open_and_remembers_the_closure_it_undid(self) -> None:
        closed = a_case().close(ClosureReason.RETURNEE_UNREACHABLE, at=NOW, by="worker.gao.1")

        reopened = closed.reopen()
        reopening = Reopening.of(closed, ReopeningReason.CONTACT_REGAINED, at=NOW, by="sup")

        assert reopened.is_open
        assert (reopened.closure_reason, reopened.closed_at, reopened.closed_by) == (
            None,
            None,
            None,
        )
        assert reopening.closure_reason is ClosureReason.RETURNEE_UNREACHABLE
        assert reopening.event().reason is ReopeningReason.CONTACT_REGAINED

    def test_an_open_case_is_not_reopened(self) -> None:
        with pytest.raises(CaseOpen):
            a_case().reopen()

    def test_a_duplicate_registrations_case_is_not_reopened(self) -> None:
        case = a_case()
        merged = case.merged(Merge(case.returnee_id, uuid4(), NOW, "supervisor.gao"))

        with pytest.raises(CaseMerged):
            merged.reopen()


def a_visit(case: Case, **given: Any) -> RecordVisit:
    return RecordVisit.model_validate(
        {"outcome": "unreachable", "visited_on": "2025-03-01"} | given
    )


class TestVisits:
    def record(self, case: Case, visit: FollowUp | None, command: RecordVisit) -> Any:
        return record_visit(
            case,
            visit,
            follow_up_id=visit.follow_up_id if visit else uuid4(),
            assessment_id=uuid4(),
            outcome=command.outcome,
            visited_on=command.visited_on,
            answers=command.answers,
            at=NOW,
            by=WORKER.subject,
        )

    def test_a_completed_visit_is_scored_and_published_without_its_answers(self) -> None:
        case = a_case()
        (visit,) = schedule(case, (6,))
        answers = dict(example_answers())

        made = self.record(case, visit, a_visit(case, outcome="completed", answers=answers))
        event = made.event()

        assert made.answers == answers
        assert event.scores == score(parse_answers(answers))
        assert (event.kind, event.outcome, event.method) == (
            AssessmentKind.FOLLOW_UP,
            VisitOutcome.COMPLETED,
            METHOD,
        )
        assert (event.follow_up_id, event.period_months) == (visit.follow_up_id, 6)
        assert "answers" not in event.model_dump()

    def test_an_unreachable_returnee_is_recorded_without_scores(self) -> None:
        case = a_case()
        (visit,) = schedule(case, (3,))

        event = self.record(case, visit, a_visit(case)).event()

        assert (event.outcome, event.scores) == (VisitOutcome.UNREACHABLE, None)

    def test_a_completed_visit_is_final(self) -> None:
        case = a_case()
        (visit,) = schedule(case, (3,))

        with pytest.raises(FollowUpCompleted):
            self.record(case, replace(visit, completed_on=date(2025, 1, 2)), a_visit(case))

    def test_another_cases_visit_is_not_found(self) -> None:
        case, other = a_case(), a_case()
        (visit,) = schedule(other, (3,))

        with pytest.raises(FollowUpNotFound):
            self.record(case, visit, a_visit(case))
        with pytest.raises(FollowUpNotFound):
            self.record(case, None, a_visit(case))

    def test_a_closed_cases_visit_is_refused(self) -> None:
        case = a_case().close(ClosureReason.REMIGRATED, at=NOW, by="worker.gao.1")
        (visit,) = schedule(case, (3,))

        with pytest.raises(CaseClosed):
            self.record(case, visit, a_visit(case))

    @pytest.mark.parametrize(
        ("day", "rule"), [("2025-03-11", "date_in_future"), ("2024-08-30", "date_before_arrival")]
    )
    def test_a_visit_is_dated_between_arrival_and_today(self, day: str, rule: str) -> None:
        case = a_case(arrival="2024-08-31")
        (visit,) = schedule(case, (3,))

        with pytest.raises(RuleViolation) as refused:
            self.record(case, visit, a_visit(case, visited_on=day))

        assert refused.value.rule == rule
        assert refused.value.context["field"] == "body.visited_on"

    def test_wrong_answers_are_refused_naming_each_field_of_the_body(self) -> None:
        case = a_case()
        (visit,) = schedule(case, (3,))
        answers = {**example_answers(), "food_reduction": "daily"}
        del answers["distress"]

        with pytest.raises(InvalidFields) as refused:
            self.record(case, visit, a_visit(case, outcome="completed", answers=answers))

        fields = {error["field"] for error in refused.value.context["errors"]}
        assert fields == {"body.answers.food_reduction", "body.answers.distress"}

    def test_an_answer_to_no_question_is_refused_without_echoing_it(self) -> None:
        case = a_case()
        (visit,) = schedule(case, (3,))
        answers = {**example_answers(), "Aminata Diarra": "yes"}

        with pytest.raises(InvalidFields) as refused:
            self.record(case, visit, a_visit(case, outcome="completed", answers=answers))

        assert [e["field"] for e in refused.value.context["errors"]] == ["body.answers"]
        assert "Aminata" not in str(refused.value.context) + refused.value.detail

    @pytest.mark.parametrize(
        "body",
        [
            {"outcome": "completed", "visited_on": "2025-03-01"},
            {
                "outcome": "unreachable",
                "visited_on": "2025-03-01",
                "answers": {"distress": "never"},
            },
        ],
    )
    def test_answers_are_given_exactly_when_the_survey_was_taken(
        self, body: dict[str, Any]
    ) -> None:
        with pytest.raises(ValidationError) as refused:
            RecordVisit.model_validate(body)

        assert refused.value.errors()[0]["loc"][0] == "answers"


class TestAssessments:
    def test_the_vulnerabilities_found_later_are_those_the_case_lacked(self) -> None:
        case = a_case(vulnerabilities=(Vulnerability.MEDICAL_NEED,))
        command = VulnerabilityFamily.model_validate(
            {
                "kind": "vulnerability_family",
                "vulnerabilities": ["medical_need", "mental_health"],
                "household_size": 6,
                "dependants": 3,
                "family_support": "some",
                "family_attitude": "hostile",
            }
        )

        assessment = assess(case, command, assessment_id=uuid4(), at=NOW, by=WORKER.subject)

        assert newly_found(assessment, case.vulnerabilities) == [Vulnerability.MENTAL_HEALTH]
        assert assessment.event() is None  # stays in reintegration
        assert assessment.document["family_attitude"] == "hostile"
        assert assessment.assessed_on == NOW.date()

    def test_the_baseline_is_scored_and_published_without_its_answers(self) -> None:
        case = a_case()
        answers = dict(example_answers())
        command = SustainabilityBaseline.model_validate(
            {"kind": "sustainability_baseline", "answers": answers, "assessed_on": "2025-03-01"}
        )

        assessment = assess(case, command, assessment_id=uuid4(), at=NOW, by=WORKER.subject)
        event = assessment.event()

        assert assessment.kind is AssessmentType.SUSTAINABILITY_BASELINE
        assert assessment.document == {"answers": answers}
        assert event is not None
        assert (event.kind, event.outcome, event.follow_up_id) == (
            AssessmentKind.BASELINE,
            VisitOutcome.COMPLETED,
            None,
        )
        assert event.scores == score(parse_answers(answers))

    def test_an_assessment_of_a_closed_case_is_refused(self) -> None:
        case = a_case().close(ClosureReason.DECEASED, at=NOW, by="worker.gao.1")
        command = SustainabilityBaseline.model_validate(
            {"kind": "sustainability_baseline", "answers": dict(example_answers())}
        )

        with pytest.raises(CaseClosed):
            assess(case, command, assessment_id=uuid4(), at=NOW, by=WORKER.subject)

    def test_free_text_has_nowhere_to_go(self) -> None:
        with pytest.raises(ValidationError) as refused:
            VulnerabilityFamily.model_validate(
                {
                    "kind": "vulnerability_family",
                    "household_size": 6,
                    "dependants": 3,
                    "family_support": "some",
                    "family_attitude": "hostile",
                    "notes": "lives with her uncle in Kidal",
                }
            )

        assert refused.value.errors()[0]["loc"] == ("notes",)


def test_a_case_keeps_the_registrations_vulnerabilities() -> None:
    registration = example_returnee_registered(
        returnee_id=uuid4(), vulnerabilities=["disability", "elderly"]
    )

    assert Case.open_for(registration).vulnerabilities == (
        Vulnerability.DISABILITY,
        Vulnerability.ELDERLY,
    )
