"""The expected-arrivals report as JSON: exact counts with small cells flagged, as
``report_json``; each part of a body has its model beside the function that builds it."""

from __future__ import annotations

from datetime import date
from typing import Literal
from uuid import UUID

from retour_contracts import ReceptionCentre
from retour_reporting.domain.expected_results import (
    ArrivalCounts,
    ExpectedArrivalsReport,
    WaveArrivals,
)
from retour_reporting.domain.outcomes import HOURS_DECIMALS
from retour_reporting.entrypoints.case_report_json import people_count
from retour_reporting.entrypoints.report_json import (
    Absent,
    JsonObject,
    JsonShape,
    MedianHoursJson,
    PeopleCountJson,
    ReportJson,
    ShareJson,
    share,
)


class ArrivalCountsJson(JsonShape):
    expected: PeopleCountJson
    """Entries of the manifests read so far."""
    arrived: PeopleCountJson
    """People registered as arrived, each counted once."""
    arrived_elsewhere: PeopleCountJson
    """Of `arrived`: registered at another centre than the one announced."""
    awaited: PeopleCountJson
    """Entries neither arrived nor closed."""
    closed_lapsed: PeopleCountJson
    """Entries closed without arriving: lapsed."""
    closed_withdrawn: PeopleCountJson
    """Entries closed without arriving: withdrawn."""
    immediate_care_within_72h: ShareJson
    """Of `arrived`: first immediate aid within 72 hours of the start (UTC) of the arrival
    day."""
    median_hours_to_immediate_care: MedianHoursJson
    """Over those given immediate aid: hours from the start of the arrival day to the first."""


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


class WaveArrivalsJson(ArrivalCountsJson):
    wave_id: UUID
    wave_name: str
    wave_size: PeopleCountJson
    """People on the manifest as announced."""
    reception_centre: str
    """The centre announced."""
    expected_date: date
    host_country: str | None


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


class CentreFilterJson(JsonShape):
    """The centre announced, when the request set one (`centre`); else left out."""

    reception_centre: ReceptionCentre | Absent = None


class ExpectedArrivalsJson(ReportJson[CentreFilterJson]):
    """Waves announced by a manifest, expected in the period: per wave and centre, expected
    against arrived, awaited and closed, and the time from arrival to immediate care."""

    report: Literal["expected-arrivals"]
    total: ArrivalCountsJson
    """All the waves, each person counted once."""
    waves: list[WaveArrivalsJson]
    """Per wave and centre announced, by expected date, then name."""


def expected_arrivals(report: ExpectedArrivalsReport) -> JsonObject:
    return {
        "total": arrival_counts(report.total),
        "waves": [_wave(wave) for wave in report.waves],
    }
