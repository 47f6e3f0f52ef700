"""The case reports as JSON: exact counts with small cells flagged, as ``report_json``, except
the mean scores of a small cell, which are not given at all (``"means": null``). Each part of a
body has its model beside the function that builds it, as in ``report_json``."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from typing import Literal
from uuid import UUID

from retour_contracts import AssessmentKind, ClosureReason, ReopeningReason
from retour_reporting.domain.case_results import (
    CaseCell,
    ClosureReport,
    FollowUpReport,
    PlanOutcomes,
    PlanReport,
    ReferralCell,
    ReferralGroup,
    ReferralReport,
    ScoreCell,
    ScoreSeries,
    SustainabilityReport,
    VisitCounts,
)
from retour_reporting.domain.disclosure import is_small_cell
from retour_reporting.domain.outcomes import Share
from retour_reporting.entrypoints.report_json import (
    Count,
    Fraction,
    JsonObject,
    JsonShape,
    PeopleCountJson,
    ReportJson,
    ReturneeFiltersJson,
    ShareJson,
    share,
)

DAYS_DECIMALS = 1


def people_count(people: int) -> JsonObject:
    return {"people": people, "small_cell": is_small_cell(people)}


class MedianDaysJson(JsonShape):
    days: float | None
    """The median, over `people`; null when there is none."""
    people: Count
    small_cell: bool
    """Whether `people` is small."""


class PlanOutcomesJson(JsonShape):
    cohort: PeopleCountJson
    """Returnees who arrived in the period."""
    with_plan: PeopleCountJson
    """Of the cohort: those with a first plan agreed."""
    agreed_within_aim: ShareJson
    """Of those with a plan: agreed at most `aim_days` days after the arrival day."""
    median_days_to_plan: MedianDaysJson
    """Over those with a plan: days from the arrival day to the day the first was agreed."""


def plan_outcomes(group: PlanOutcomes) -> JsonObject:
    median = group.median_days
    return {
        "cohort": people_count(group.cohort),
        "with_plan": people_count(group.with_plan),
        "agreed_within_aim": share(group.within_aim_share),
        "median_days_to_plan": {
            "days": None if median is None else round(median, DAYS_DECIMALS),
            "people": group.with_plan,
            "small_cell": group.median_is_small,
        },
    }


class CentrePlanOutcomesJson(PlanOutcomesJson):
    value: str
    """The reception centre."""


class PlansJson(PlanOutcomesJson, ReportJson[ReturneeFiltersJson]):
    """Returnees who arrived in the period: first plans agreed, and within a month of
    arrival, overall and by centre."""

    report: Literal["plans"]
    aim_days: int
    """The aim: a first plan agreed at most this many days after the arrival day."""
    by_centre: list[CentrePlanOutcomesJson]
    """Ordered by centre; a centre with no one in the cohort is left out."""


def plans(report: PlanReport) -> JsonObject:
    return {
        "aim_days": report.aim_days,
        **plan_outcomes(report.overall),
        "by_centre": [
            {"value": centre, **plan_outcomes(group)} for centre, group in report.by_centre.items()
        ],
    }


class ReferralCountJson(JsonShape):
    referrals: Count
    people: Count
    """People referred, each counted once."""
    small_cell: bool
    """Whether `people` is small."""


def _referral_cell(cell: ReferralCell) -> JsonObject:
    return {"referrals": cell.referrals, "people": cell.people, "small_cell": cell.small}


class ReferralsByStatusJson(JsonShape):
    """The referrals at each current status, every status listed (zeros where none is)."""

    sent: ReferralCountJson
    accepted: ReferralCountJson
    completed: ReferralCountJson
    declined: ReferralCountJson


class ReferralGroupJson(ReferralCountJson):
    by_status: ReferralsByStatusJson


def _referral_group(group: ReferralGroup) -> JsonObject:
    return {
        **_referral_cell(group.total),
        "by_status": {status: _referral_cell(cell) for status, cell in group.by_status.items()},
    }


class PartnerReferralsJson(ReferralGroupJson):
    partner_id: UUID
    partner_name: str
    """The name on the partner's most recently updated referral."""


class ReferralsJson(ReportJson[ReturneeFiltersJson]):
    """Referrals sent in the period, at their current status: all, and by partner."""

    report: Literal["referrals"]
    total: ReferralGroupJson
    partners: list[PartnerReferralsJson]
    """Partners with a referral counted, by name, then id."""


def referrals(report: ReferralReport) -> JsonObject:
    return {
        "total": _referral_group(report.overall),
        "partners": [
            {
                "partner_id": str(partner.partner_id),
                "partner_name": partner.partner_name,
                **_referral_group(partner.referrals),
            }
            for partner in report.partners
        ],
    }


class VisitCountJson(JsonShape):
    visits: Count
    small_cell: bool


def _visits(visits: int) -> JsonObject:
    return {"visits": visits, "small_cell": is_small_cell(visits)}


class CompletionJson(JsonShape):
    """Visits completed (`visits`) of those due (`of`), and their share (null when none is
    due)."""

    visits: Count
    of: Count
    share: Fraction | None
    small_cell: bool
    """Whether `visits` or `of` is small."""


def _completion(rate: Share) -> JsonObject:
    return {"visits": rate.people, "of": rate.of, "share": rate.value, "small_cell": rate.small}


class VisitCountsJson(JsonShape):
    scheduled: VisitCountJson
    """Visits as scheduled now (a closure cancels its case's visits not made)."""
    completed: VisitCountJson
    unreachable: VisitCountJson
    """Visits where the returnee could not be reached, not completed since."""
    overdue: VisitCountJson
    """Due before `as_of`, not completed, on a case open now."""
    completion: CompletionJson


def visit_counts(counts: VisitCounts) -> JsonObject:
    return {
        "scheduled": _visits(counts.scheduled),
        "completed": _visits(counts.completed),
        "unreachable": _visits(counts.unreachable),
        "overdue": _visits(counts.overdue),
        "completion": _completion(counts.completion),
    }


class CentreVisitsJson(VisitCountsJson):
    value: str
    """The reception centre."""


class FollowUpPeriodJson(VisitCountsJson):
    period_months: int
    """The visits at this many months after arrival."""
    by_centre: list[CentreVisitsJson]
    """Ordered by centre; a centre with no visit is left out."""


class FollowUpsJson(ReportJson[ReturneeFiltersJson]):
    """Monitoring visits due in the period, by period after arrival: completed, overdue."""

    report: Literal["follow-ups"]
    as_of: date
    """The day the report was made on, which says what is overdue."""
    periods: list[FollowUpPeriodJson]
    """Ordered by period; a period with no visit due is left out."""


def follow_ups(report: FollowUpReport) -> JsonObject:
    return {
        "as_of": report.as_of,
        "periods": [
            {
                "period_months": period.period_months,
                **visit_counts(period.overall),
                "by_centre": [
                    {"value": centre, **visit_counts(counts)}
                    for centre, counts in period.by_centre.items()
                ],
            }
            for period in report.periods
        ],
    }


class ScoresJson(JsonShape):
    """Mean scores, 0 (worst) to 1 (best)."""

    economic: Fraction
    social: Fraction
    psychosocial: Fraction
    composite: Fraction


class ScoreCellJson(JsonShape):
    value: str
    people: Count
    small_cell: bool
    means: ScoresJson | None
    """Null for a small cell: the mean scores of a few people are theirs."""


def score_cell(cell: ScoreCell) -> JsonObject:
    means = cell.shown_means
    return {
        "value": cell.value,
        "people": cell.people,
        "small_cell": cell.small,
        "means": None if means is None else asdict(means),
    }


class ScoreBreakdownsJson(JsonShape):
    """The series by centre, return type and sex, in cells ordered by value."""

    reception_centre: list[ScoreCellJson]
    return_type: list[ScoreCellJson]
    sex: list[ScoreCellJson]


class ScoreSeriesJson(JsonShape):
    """The latest completed survey of each returnee of one kind (and visit period), scored by
    one method: scores of two methods are never averaged together."""

    kind: AssessmentKind
    period_months: int | None
    """The visit's months after arrival; null for the baseline."""
    method: str
    total: ScoreCellJson
    """All of the series (`value` is `all`)."""
    breakdowns: ScoreBreakdownsJson


def _series(series: ScoreSeries) -> JsonObject:
    return {
        "kind": series.kind,
        "period_months": series.period_months,
        "method": series.method,
        "total": score_cell(series.total),
        "breakdowns": {
            name: [score_cell(cell) for cell in cells] for name, cells in series.breakdowns.items()
        },
    }


class SustainabilityJson(ReportJson[ReturneeFiltersJson]):
    """Reintegration sustainability scores of the surveys taken in the period."""

    report: Literal["sustainability"]
    series: list[ScoreSeriesJson]
    """The baseline first, then by visit period and method."""


def sustainability(report: SustainabilityReport) -> JsonObject:
    return {"series": [_series(series) for series in report.series]}


class CaseCountJson(JsonShape):
    cases: Count
    small_cell: bool


class ClosureCellJson(JsonShape):
    value: ClosureReason
    cases: Count
    small_cell: bool


class ReopeningCellJson(JsonShape):
    value: ReopeningReason
    cases: Count
    small_cell: bool


def _case_cells(cells: list[CaseCell]) -> list[JsonObject]:
    return [{"value": c.value, "cases": c.cases, "small_cell": c.small} for c in cells]


class ClosuresJson(ReportJson[ReturneeFiltersJson]):
    """Cases closed now whose closure is in the period, by reason, and the reopenings of the
    period."""

    report: Literal["closures"]
    closed: CaseCountJson
    """Cases closed now, by their latest closure (a reopened case is not)."""
    by_reason: list[ClosureCellJson]
    """In the order of the reasons' list; a reason with no case is left out."""
    reopenings: CaseCountJson
    """Reopenings (a case reopened twice counts twice)."""
    reopenings_by_reason: list[ReopeningCellJson]
    """In the order of the reasons' list; a reason with no reopening is left out."""


def closures(report: ClosureReport) -> JsonObject:
    return {
        "closed": {"cases": report.closed, "small_cell": is_small_cell(report.closed)},
        "by_reason": _case_cells(report.by_reason),
        "reopenings": {"cases": report.reopenings, "small_cell": is_small_cell(report.reopenings)},
        "reopenings_by_reason": _case_cells(report.reopenings_by_reason),
    }
