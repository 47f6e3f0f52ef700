"""The case reports as JSON: exact counts with small cells flagged, as ``report_json``, except
the mean scores of a small cell, which are not given at all (``"means": null``)."""

from __future__ import annotations

from dataclasses import asdict

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
from retour_reporting.entrypoints.report_json import JsonObject, share

DAYS_DECIMALS = 1


def people_count(people: int) -> JsonObject:
    return {"people": people, "small_cell": is_small_cell(people)}


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


def plans(report: PlanReport) -> JsonObject:
    return {
        "aim_days": report.aim_days,
        **plan_outcomes(report.overall),
        "by_centre": [
            {"value": centre, **plan_outcomes(group)} for centre, group in report.by_centre.items()
        ],
    }


def _referral_cell(cell: ReferralCell) -> JsonObject:
    return {"referrals": cell.referrals, "people": cell.people, "small_cell": cell.small}


def _referral_group(group: ReferralGroup) -> JsonObject:
    return {
        **_referral_cell(group.total),
        "by_status": {status: _referral_cell(cell) for status, cell in group.by_status.items()},
    }


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


def _visits(visits: int) -> JsonObject:
    return {"visits": visits, "small_cell": is_small_cell(visits)}


def _completion(rate: Share) -> JsonObject:
    return {"visits": rate.people, "of": rate.of, "share": rate.value, "small_cell": rate.small}


def visit_counts(counts: VisitCounts) -> JsonObject:
    return {
        "scheduled": _visits(counts.scheduled),
        "completed": _visits(counts.completed),
        "unreachable": _visits(counts.unreachable),
        "overdue": _visits(counts.overdue),
        "completion": _completion(counts.completion),
    }


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


def score_cell(cell: ScoreCell) -> JsonObject:
    means = cell.shown_means
    return {
        "value": cell.value,
        "people": cell.people,
        "small_cell": cell.small,
        "means": None if means is None else asdict(means),
    }


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


def sustainability(report: SustainabilityReport) -> JsonObject:
    return {"series": [_series(series) for series in report.series]}


def _case_cells(cells: list[CaseCell]) -> list[JsonObject]:
    return [{"value": c.value, "cases": c.cases, "small_cell": c.small} for c in cells]


def closures(report: ClosureReport) -> JsonObject:
    return {
        "closed": {"cases": report.closed, "small_cell": is_small_cell(report.closed)},
        "by_reason": _case_cells(report.by_reason),
        "reopenings": {"cases": report.reopenings, "small_cell": is_small_cell(report.reopenings)},
        "reopenings_by_reason": _case_cells(report.reopenings_by_reason),
    }
