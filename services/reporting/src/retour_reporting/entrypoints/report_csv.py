"""Reports as CSV files, one tidy table per report, with small cells suppressed.

A suppressed cell keeps its row (so readers see the category exists) but its measures are
left empty and ``suppressed`` is ``true``: a file travels beyond the analysts who may see
exact small counts. Totals stay exact, so a lone suppressed cell in a breakdown can be
derived from them; publishing teams must still review (secondary suppression is manual).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

from retour_reporting.domain.disclosure import is_small_cell
from retour_reporting.domain.outcomes import HOURS_DECIMALS, CohortOutcomes, KpiReport, Share
from retour_reporting.domain.results import (
    ActivityCell,
    ActivityReport,
    AidCell,
    AidReport,
    MonthlyRegistrations,
    RegistrationReport,
)
from retour_reporting.entrypoints.report_json import amount

Table = tuple[Sequence[str], Iterable[Sequence[object]]]


def render(table: Table) -> str:
    header, rows = table
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def _flag(small: bool) -> str:
    return "true" if small else "false"


def measures(small: bool, *values: object) -> list[object]:
    """``values``, emptied when the cell is small, then the ``suppressed`` flag."""
    return [*(["" for _ in values] if small else values), _flag(small)]


def registrations(report: RegistrationReport) -> Table:
    rows: list[Sequence[object]] = [["total", "all", report.total, "false"]]
    for name, cells in report.breakdowns.items():
        rows += [[name, cell.value, *measures(cell.small, cell.people)] for cell in cells]
    return ("breakdown", "value", "people", "suppressed"), rows


def monthly(report: list[MonthlyRegistrations]) -> Table:
    rows = [[row.month, row.reception_centre, *measures(row.small, row.people)] for row in report]
    return ("month", "reception_centre", "people", "suppressed"), rows


def _aid_row(name: str, cell: AidCell) -> list[object]:
    values = (cell.aids, cell.people, amount(cell.total_xof), cell.other_currency_aids)
    return [name, cell.value, *measures(cell.small, *values)]


def aid(report: AidReport) -> Table:
    rows = [_aid_row("total", report.total)]
    for name, cells in report.breakdowns.items():
        rows += [_aid_row(name, cell) for cell in cells]
    header = ("breakdown", "value", "aids", "people", "total_xof", "other_currency_aids")
    return (*header, "suppressed"), rows


def _activity_row(name: str, cell: ActivityCell) -> list[object]:
    values = (cell.activities, cell.participants, amount(cell.funding_xof))
    return [name, cell.value, *measures(cell.small, *values)]


def activities(report: ActivityReport) -> Table:
    rows = [_activity_row("total", report.total)]
    for name, cells in report.breakdowns.items():
        rows += [_activity_row(name, cell) for cell in cells]
    header = ("breakdown", "value", "activities", "participants", "funding_xof")
    return (*header, "suppressed"), rows


def share_row(group: str, indicator: str, share: Share) -> list[object]:
    """A share as a row of ``(group, indicator, people, of, value, suppressed)``."""
    return [group, indicator, *measures(share.small, share.people, share.of, share.value)]


def _outcome_rows(group: str, outcomes: CohortOutcomes) -> list[list[object]]:
    median = outcomes.median_hours_to_first_aid
    hours = "" if median is None else round(median, HOURS_DECIMALS)
    rows = [
        [group, "cohort", *measures(is_small_cell(outcomes.cohort), outcomes.cohort, "", "")],
        share_row(group, "immediate_assistance_within_72h", outcomes.immediate_assistance_72h),
        [
            group,
            "median_hours_to_first_aid",
            *measures(outcomes.median_is_small, outcomes.aided, "", hours),
        ],
        share_row(group, "reintegration_aid", outcomes.reintegration_aid),
        share_row(group, "launched_activity", outcomes.launched_activity),
    ]
    for stage, people in outcomes.funnel():
        small = is_small_cell(people)
        rows.append([group, f"funnel_{stage}", *measures(small, people, "", "")])
    return rows


def kpis(report: KpiReport) -> Table:
    rows = _outcome_rows("all", report.overall)
    for centre, outcomes in report.by_centre.items():
        rows += _outcome_rows(f"reception_centre={centre}", outcomes)
    return ("group", "indicator", "people", "of", "value", "suppressed"), rows
