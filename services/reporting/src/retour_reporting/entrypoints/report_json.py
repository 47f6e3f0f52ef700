"""Reports as JSON: exact counts, with small cells flagged for the reader (``small_cell``).

Analysts see exact figures; whatever leaves the service as a file (CSV) or a screen others
photograph (the dashboard) hides the small cells instead.
"""

from __future__ import annotations

from dataclasses import asdict, fields
from decimal import Decimal
from enum import Enum
from typing import Any

from retour_reporting.domain.disclosure import SMALL_CELL_LIMIT, is_small_cell
from retour_reporting.domain.outcomes import HOURS_DECIMALS, CohortOutcomes, KpiReport, Share
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

JsonObject = dict[str, Any]


def amount(value: Decimal) -> str:
    """Money as a decimal string, as the contracts carry it ("350000", "1500.5")."""
    return format(value.normalize(), "f") if value else "0"


def envelope(name: str, query: ReportQuery, body: JsonObject) -> JsonObject:
    return {
        "report": name,
        "period": {"from": query.period.first_day, "to": query.period.last_day},
        "filters": _filters(query),
        "small_cell_limit": SMALL_CELL_LIMIT,
        **body,
    }


def _filters(query: ReportQuery) -> JsonObject:
    chosen: JsonObject = {}
    for group in (query.returnees, query.aid, query.activities):
        for field in fields(group):
            value = getattr(group, field.name)
            if value is not None:
                chosen[field.name] = value.value if isinstance(value, Enum) else value
    return chosen


def people_cell(cell: PeopleCell) -> JsonObject:
    return {"value": cell.value, "people": cell.people, "small_cell": cell.small}


def registrations(report: RegistrationReport) -> JsonObject:
    return {
        "total": {"people": report.total},
        "breakdowns": {
            name: [people_cell(cell) for cell in cells] for name, cells in report.breakdowns.items()
        },
    }


def monthly(rows: list[MonthlyRegistrations]) -> JsonObject:
    return {"rows": [{**asdict(row), "small_cell": row.small} for row in rows]}


def aid_cell(cell: AidCell) -> JsonObject:
    return {**asdict(cell), "total_xof": amount(cell.total_xof), "small_cell": cell.small}


def aid(report: AidReport) -> JsonObject:
    return {
        "total": aid_cell(report.total),
        "breakdowns": {
            name: [aid_cell(cell) for cell in cells] for name, cells in report.breakdowns.items()
        },
    }


def activity_cell(cell: ActivityCell) -> JsonObject:
    return {**asdict(cell), "funding_xof": amount(cell.funding_xof), "small_cell": cell.small}


def activities(report: ActivityReport) -> JsonObject:
    return {
        "total": activity_cell(report.total),
        "breakdowns": {
            name: [activity_cell(cell) for cell in cells]
            for name, cells in report.breakdowns.items()
        },
    }


def share(value: Share) -> JsonObject:
    return {"people": value.people, "of": value.of, "share": value.value, "small_cell": value.small}


def outcomes(group: CohortOutcomes) -> JsonObject:
    median = group.median_hours_to_first_aid
    return {
        "cohort": {"people": group.cohort, "small_cell": is_small_cell(group.cohort)},
        "immediate_assistance_within_72h": share(group.immediate_assistance_72h),
        "median_hours_to_first_aid": {
            "hours": None if median is None else round(median, HOURS_DECIMALS),
            "people": group.aided,
            "small_cell": group.median_is_small,
        },
        "reintegration_aid": share(group.reintegration_aid),
        "launched_activity": share(group.launched_activity),
        "funnel": [
            {"stage": stage, "people": people, "small_cell": is_small_cell(people)}
            for stage, people in group.funnel()
        ],
    }


def kpis(report: KpiReport) -> JsonObject:
    return {
        **outcomes(report.overall),
        "by_centre": [
            {"value": centre, **outcomes(group)} for centre, group in report.by_centre.items()
        ],
    }
