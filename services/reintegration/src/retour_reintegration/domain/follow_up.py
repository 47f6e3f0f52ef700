"""Monitoring visits (IOM Reintegration Handbook 2019, module 5: monitoring): scheduled when a
case opens, at set periods after arrival (3, 6 and 12 months by default), each recorded as the
Reintegration Sustainability Survey taken with the returnee, or as the returnee unreachable.

A visit is named by ``follow_up_id``, derived from the returnee and the period, so that reading a
registration again, or a replay of the whole topic, schedules the same visits and never more.
Its due date follows the case's arrival date (a correction moves it), and it is published again
when its due date or the case's centre changes, or when a closed case is reopened; a completed
visit is final.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from itertools import pairwise
from uuid import UUID, uuid5

from retour_contracts import (
    AssessmentKind,
    FollowUpScheduled,
    ReceptionCentre,
    ReintegrationAssessed,
    SustainabilityScores,
    VisitOutcome,
)
from retour_reintegration.domain.case import Case
from retour_reintegration.domain.errors import (
    FollowUpCompleted,
    FollowUpNotFound,
    InvalidFields,
    RuleViolation,
)
from retour_reintegration.domain.sustainability import (
    METHOD,
    InvalidAnswers,
    SurveyAnswers,
    parse_answers,
    rss_method,
    score,
)

DEFAULT_PERIODS = (3, 6, 12)
"""The Handbook's monitoring points, in months after arrival."""
MAX_PERIOD_MONTHS = 60

FOLLOW_UP_NAMESPACE = UUID("6f1d3c1e-4a8b-5d2e-9c70-1b5e0f2a7d31")
"""Names visits (uuid5): never change it, or replays would schedule every visit a second time."""


def parse_periods(text: str | Iterable[int]) -> tuple[int, ...]:
    """``"3,6,12"`` (or numbers) as periods, refused unless strictly ascending within 1..60."""
    if isinstance(text, str):
        try:
            periods = tuple(int(part) for part in text.split(",") if part.strip())
        except ValueError:
            raise ValueError(f"periods are whole months separated by commas: {text!r}") from None
    else:
        periods = tuple(text)
    if not periods:
        raise ValueError("at least one follow-up period is needed")
    if any(not 1 <= period <= MAX_PERIOD_MONTHS for period in periods):
        raise ValueError(f"each period is 1 to {MAX_PERIOD_MONTHS} months")
    if any(later <= earlier for earlier, later in pairwise(periods)):
        raise ValueError("periods must be in ascending order, each once")
    return periods


def months_after(day: date, months: int) -> date:
    """The same day ``months`` calendar months later, or that month's last day when it is
    shorter (31 August + 6 months is 28 or 29 February)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def follow_up_id_of(returnee_id: UUID, period_months: int) -> UUID:
    return uuid5(FOLLOW_UP_NAMESPACE, f"{returnee_id}/{period_months}")


@dataclass(frozen=True)
class FollowUp:
    """One monitoring visit of a case; ``completed_on`` once its survey was taken."""

    follow_up_id: UUID
    returnee_id: UUID
    period_months: int
    due_on: date
    completed_on: date | None = None

    @classmethod
    def due(cls, case: Case, period_months: int) -> FollowUp:
        return cls(
            follow_up_id=follow_up_id_of(case.returnee_id, period_months),
            returnee_id=case.returnee_id,
            period_months=period_months,
            due_on=months_after(case.arrival_date, period_months),
        )

    @property
    def is_done(self) -> bool:
        return self.completed_on is not None

    def after(self, arrival_date: date) -> FollowUp:
        """The visit with its due date counted from ``arrival_date`` (a corrected arrival)."""
        return replace(self, due_on=months_after(arrival_date, self.period_months))

    def scheduled(self, centre: ReceptionCentre) -> FollowUpScheduled:
        return FollowUpScheduled(
            follow_up_id=self.follow_up_id,
            returnee_id=self.returnee_id,
            reception_centre=centre,
            period_months=self.period_months,
            due_on=self.due_on,
        )


def schedule(case: Case, periods: Iterable[int]) -> list[FollowUp]:
    """The visits of a case that has just opened."""
    return [FollowUp.due(case, period) for period in periods]


def moved(before: Case, after: Case, visits: Iterable[FollowUp]) -> list[FollowUp]:
    """The visits not done yet whose event changes when the case's facts go from ``before`` to
    ``after``: a new due date (an arrival corrected) or a new centre (a transfer)."""
    transferred = before.reception_centre != after.reception_centre
    changed = []
    for visit in visits:
        if visit.is_done:
            continue
        new = visit.after(after.arrival_date)
        if transferred or new.due_on != visit.due_on:
            changed.append(new)
    return changed


@dataclass(frozen=True)
class Visit:
    """A visit made: the survey taken (answers and scores), or the returnee unreachable."""

    assessment_id: UUID
    follow_up: FollowUp
    outcome: VisitOutcome
    visited_on: date
    answers: Mapping[str, str] | None
    scores: SustainabilityScores | None
    method: str
    recorded_at: datetime
    recorded_by: str

    def event(self) -> ReintegrationAssessed:
        """The scores, never the answers."""
        return ReintegrationAssessed(
            assessment_id=self.assessment_id,
            returnee_id=self.follow_up.returnee_id,
            kind=AssessmentKind.FOLLOW_UP,
            follow_up_id=self.follow_up.follow_up_id,
            period_months=self.follow_up.period_months,
            outcome=self.outcome,
            scores=self.scores,
            method=self.method,
            assessed_at=self.recorded_at,
            assessed_by=self.recorded_by,
        )


def record_visit(
    case: Case,
    follow_up: FollowUp | None,
    *,
    follow_up_id: UUID,
    assessment_id: UUID,
    outcome: VisitOutcome,
    visited_on: date,
    answers: Mapping[str, object] | None,
    at: datetime,
    by: str,
) -> Visit:
    """The visit ``follow_up_id`` of ``case`` (an open case the caller may act on), as made on
    ``visited_on``: refused when the visit is not the case's, already completed, dated ahead
    or before the arrival, or when the answers do not fit the survey."""
    if follow_up is None or follow_up.returnee_id != case.returnee_id:
        raise FollowUpNotFound(follow_up_id)
    case.check_is_open()
    if follow_up.is_done:
        raise FollowUpCompleted(follow_up_id)
    check_day(visited_on, case, today=at.date(), field="body.visited_on")
    scores = None
    kept: Mapping[str, str] | None = None
    if outcome is VisitOutcome.COMPLETED:
        if answers is None:  # RecordVisit requires them: a caller's mistake, not the client's
            raise ValueError("a completed visit has the survey's answers")
        survey = survey_answers(answers)
        kept, scores = survey.answers, score(survey)
    return Visit(
        assessment_id=assessment_id,
        follow_up=follow_up,
        outcome=outcome,
        visited_on=visited_on,
        answers=kept,
        scores=scores,
        method=METHOD,
        recorded_at=at,
        recorded_by=by,
    )


def check_day(day: date, case: Case, *, today: date, field: str) -> None:
    """A visit or an assessment is recorded on the day or after it, never ahead, and never
    before the returnee arrived."""
    if day > today:
        raise RuleViolation("date_in_future", f"{field} is in the future", field=field)
    if day < case.arrival_date:
        raise RuleViolation(
            "date_before_arrival",
            f"{field} is before the arrival of returnee {case.returnee_id}",
            field=field,
        )


def survey_answers(raw: Mapping[str, object]) -> SurveyAnswers:
    """The survey's answers, checked, or refused naming each field of the body at fault."""
    unknown = [code for code in raw if rss_method().question(code) is None]
    if unknown:
        # Named by count, not by key: a key that is no question's code is whatever the client
        # sent, and request input is never echoed back.
        raise InvalidFields(
            [
                (
                    "body.answers",
                    f"{len(unknown)} answer(s) to no question of the survey"
                    " (GET /sustainability-survey lists the questions)",
                )
            ]
        )
    try:
        return parse_answers(raw)
    except InvalidAnswers as invalid:
        problems = [(f"body.{field}", message) for field, message in invalid.problems]
        raise InvalidFields(problems) from None


def example_answers() -> Mapping[str, str]:
    """A complete survey, for the API's examples: each question asked answered with its first
    choice."""
    answers: dict[str, str] = {}
    for question in rss_method().questions:
        condition = question.asked_when
        if condition is None or answers.get(condition[0]) in condition[1]:
            answers[question.code] = next(iter(question.choices))
    return answers
