"""The rows of the expected-arrivals report (expected_report_sql) turned into its result."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from retour_reporting.domain.expected_results import (
    ArrivalCounts,
    ExpectedArrivalsReport,
    WaveArrivals,
)


def expected_arrivals_report(rows: Sequence[asyncpg.Record]) -> ExpectedArrivalsReport:
    """Waves by expected date, then name, id and centre."""
    total = next(_counts(row) for row in rows if row["overall"])
    waves = [
        WaveArrivals(
            wave_id=row["wave_id"],
            wave_name=row["wave_name"],
            wave_size=row["wave_size"],
            reception_centre=row["reception_centre"],
            expected_date=row["expected_date"],
            host_country=row["host_country"],
            counts=_counts(row),
        )
        for row in rows
        if not row["overall"]
    ]
    waves.sort(key=lambda w: (w.expected_date, w.wave_name, str(w.wave_id), w.reception_centre))
    return ExpectedArrivalsReport(total=total, waves=waves)


def _counts(row: asyncpg.Record) -> ArrivalCounts:
    return ArrivalCounts(
        expected=row["expected"],
        arrived=row["arrived"],
        arrived_elsewhere=row["arrived_elsewhere"],
        awaited=row["awaited"],
        closed_lapsed=row["closed_lapsed"],
        closed_withdrawn=row["closed_withdrawn"],
        cared=row["cared"],
        cared_within_72h=row["cared_within_72h"],
        median_hours_to_care=row["median_hours"],
    )
