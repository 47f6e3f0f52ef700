"""The expected-arrivals report as JSON: exact counts with small cells flagged, as
``report_json``."""

from __future__ import annotations

from retour_reporting.domain.expected_results import (
    ArrivalCounts,
    ExpectedArrivalsReport,
    WaveArrivals,
)
from retour_reporting.domain.outcomes import HOURS_DECIMALS
from retour_reporting.entrypoints.case_report_json import people_count
from retour_reporting.entrypoints.report_json import JsonObject, share


def arrival_counts(counts: ArrivalCounts) -> JsonObject:
    median = counts.median_hours_to_care
    return {
        **{name: people_count(people) for name, people in counts.people()},
        "immediate_care_within_72h": share(counts.within_72h),
        "median_hours_to_immediate_care": {
            "hours": None if median is None else round(median, HOURS_DECIMALS),
            "people": counts.cared,
            "small_cell": counts.median_is_small,
        },
    }


def _wave(wave: WaveArrivals) -> JsonObject:
    return {
        "wave_id": str(wave.wave_id),
        "wave_name": wave.wave_name,
        "wave_size": people_count(wave.wave_size),
        "reception_centre": wave.reception_centre,
        "expected_date": wave.expected_date,
        "host_country": wave.host_country,
        **arrival_counts(wave.counts),
    }


def expected_arrivals(report: ExpectedArrivalsReport) -> JsonObject:
    return {
        "total": arrival_counts(report.total),
        "waves": [_wave(wave) for wave in report.waves],
    }
