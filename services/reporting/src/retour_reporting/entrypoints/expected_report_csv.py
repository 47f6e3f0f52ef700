"""The expected-arrivals report as a CSV file, small cells suppressed as ``report_csv`` does:
one row per wave, centre and indicator (the total first, as wave ``all``)."""

from __future__ import annotations

from retour_reporting.domain.disclosure import is_small_cell
from retour_reporting.domain.expected_results import ArrivalCounts, ExpectedArrivalsReport
from retour_reporting.domain.outcomes import HOURS_DECIMALS
from retour_reporting.entrypoints.report_csv import Table, measures

ALL = "all"
HEADER = (
    "wave_id",
    "wave_name",
    "reception_centre",
    "expected_date",
    "host_country",
    "indicator",
    "people",
    "of",
    "value",
    "suppressed",
)


def _rows(labels: list[object], counts: ArrivalCounts) -> list[list[object]]:
    rows = [
        [*labels, name, *measures(is_small_cell(people), people, "", "")]
        for name, people in counts.people()
    ]
    within = counts.within_72h
    rows.append(
        [
            *labels,
            "immediate_care_within_72h",
            *measures(within.small, within.people, within.of, within.value),
        ]
    )
    median = counts.median_hours_to_care
    hours = "" if median is None else round(median, HOURS_DECIMALS)
    rows.append(
        [
            *labels,
            "median_hours_to_immediate_care",
            *measures(counts.median_is_small, counts.cared, "", hours),
        ]
    )
    return rows


def expected_arrivals(report: ExpectedArrivalsReport) -> Table:
    rows = _rows([ALL, ALL, ALL, "", ""], report.total)
    for wave in report.waves:
        labels: list[object] = [
            str(wave.wave_id),
            wave.wave_name,
            wave.reception_centre,
            wave.expected_date.isoformat(),
            wave.host_country or "",
        ]
        small = is_small_cell(wave.wave_size)
        rows.append([*labels, "wave_size", *measures(small, wave.wave_size, "", "")])
        rows += _rows(labels, wave.counts)
    return HEADER, rows
