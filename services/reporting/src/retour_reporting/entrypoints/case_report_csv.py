"""The case reports as CSV files, small cells suppressed as ``report_csv`` does: the row stays,
its measures are emptied and ``suppressed`` is ``true``."""

from __future__ import annotations

from retour_reporting.domain.case_results import (
    CaseCell,
    ClosureReport,
    FollowUpReport,
    PlanOutcomes,
    PlanReport,
    ReferralGroup,
    ReferralReport,
    ScoreCell,
    ScoreSeries,
    SustainabilityReport,
    VisitCounts,
)
from retour_reporting.domain.disclosure import is_small_cell
from retour_reporting.entrypoints.case_report_json import DAYS_DECIMALS
from retour_reporting.entrypoints.report_csv import Table, measures, share_row

ALL = "all"


def _count_row(group: str, indicator: str, count: int) -> list[object]:
    return [group, indicator, *measures(is_small_cell(count), count, "", "")]


def _plan_rows(group: str, outcomes: PlanOutcomes) -> list[list[object]]:
    median = outcomes.median_days
    days = "" if median is None else round(median, DAYS_DECIMALS)
    return [
        _count_row(group, "cohort", outcomes.cohort),
        _count_row(group, "with_plan", outcomes.with_plan),
        share_row(group, "agreed_within_aim", outcomes.within_aim_share),
        [
            group,
            "median_days_to_plan",
            *measures(outcomes.median_is_small, outcomes.with_plan, "", days),
        ],
    ]


def plans(report: PlanReport) -> Table:
    rows = _plan_rows(ALL, report.overall)
    for centre, outcomes in report.by_centre.items():
        rows += _plan_rows(f"reception_centre={centre}", outcomes)
    return ("group", "indicator", "people", "of", "value", "suppressed"), rows


def _referral_rows(partner_id: str, name: str, group: ReferralGroup) -> list[list[object]]:
    cells = [(ALL, group.total), *group.by_status.items()]
    return [
        [partner_id, name, status, *measures(cell.small, cell.referrals, cell.people)]
        for status, cell in cells
    ]


def referrals(report: ReferralReport) -> Table:
    rows = _referral_rows(ALL, ALL, report.overall)
    for partner in report.partners:
        rows += _referral_rows(str(partner.partner_id), partner.partner_name, partner.referrals)
    header = ("partner_id", "partner_name", "status", "referrals", "people", "suppressed")
    return header, rows


def _visit_rows(months: int, group: str, counts: VisitCounts) -> list[list[object]]:
    indicators = [
        ("scheduled", counts.scheduled),
        ("completed", counts.completed),
        ("unreachable", counts.unreachable),
        ("overdue", counts.overdue),
    ]
    rows = [[months, *_count_row(group, name, count)] for name, count in indicators]
    return [*rows, [months, *share_row(group, "completion", counts.completion)]]


def follow_ups(report: FollowUpReport) -> Table:
    rows: list[list[object]] = []
    for period in report.periods:
        rows += _visit_rows(period.period_months, ALL, period.overall)
        for centre, counts in period.by_centre.items():
            rows += _visit_rows(period.period_months, f"reception_centre={centre}", counts)
    header = ("period_months", "group", "indicator", "visits", "of", "value", "suppressed")
    return header, rows


def _score_row(series: ScoreSeries, breakdown: str, cell: ScoreCell) -> list[object]:
    means = cell.means
    scores = (means.economic, means.social, means.psychosocial, means.composite)
    return [
        series.kind,
        "" if series.period_months is None else series.period_months,
        series.method,
        breakdown,
        cell.value,
        *measures(cell.small, cell.people, *scores),
    ]


def sustainability(report: SustainabilityReport) -> Table:
    rows: list[list[object]] = []
    for series in report.series:
        rows.append(_score_row(series, "total", series.total))
        for breakdown, cells in series.breakdowns.items():
            rows += [_score_row(series, breakdown, cell) for cell in cells]
    header = ("kind", "period_months", "method", "breakdown", "value", "people")
    return (*header, "economic", "social", "psychosocial", "composite", "suppressed"), rows


def _case_rows(event: str, total: int, cells: list[CaseCell]) -> list[list[object]]:
    rows = [[event, ALL, *measures(is_small_cell(total), total)]]
    return rows + [[event, cell.value, *measures(cell.small, cell.cases)] for cell in cells]


def closures(report: ClosureReport) -> Table:
    rows = _case_rows("closed", report.closed, report.by_reason)
    rows += _case_rows("reopened", report.reopenings, report.reopenings_by_reason)
    return ("event", "reason", "cases", "suppressed"), rows
