"""Reads the reports out of the projections (the read side: plain SQL, no domain logic)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from enum import Enum
from typing import Any, TypeVar

import asyncpg

from retour_reporting.adapters import report_sql
from retour_reporting.domain.outcomes import CohortOutcomes, KpiReport
from retour_reporting.domain.queries import ReportQuery, ReturneeFilters
from retour_reporting.domain.results import (
    ActivityCell,
    ActivityReport,
    AidCell,
    AidReport,
    MonthlyRegistrations,
    PeopleCell,
    RegistrationReport,
)

PoolSource = Callable[[], asyncpg.Pool]
Cell = TypeVar("Cell")


class PgReportSource:
    """``pool`` is called per query: the pool only exists once the app's lifespan started."""

    def __init__(self, pool: PoolSource) -> None:
        self._pool = pool

    async def registrations(self, query: ReportQuery) -> RegistrationReport:
        rows = await self._fetch(report_sql.REGISTRATIONS, _cohort_params(query))
        total, breakdowns = _split(rows, lambda row: PeopleCell(row["value"], row["people"]))
        return RegistrationReport(total=total.people, breakdowns=breakdowns)

    async def monthly_registrations(self, query: ReportQuery) -> list[MonthlyRegistrations]:
        rows = await self._fetch(report_sql.MONTHLY_REGISTRATIONS, _cohort_params(query))
        return [
            MonthlyRegistrations(row["month"], row["reception_centre"], row["people"])
            for row in rows
        ]

    async def aid(self, query: ReportQuery) -> AidReport:
        f = query.aid
        aid_filters = _texts(f.phase, f.category, f.dimension, f.level, f.modality)
        rows = await self._fetch(report_sql.AID, [*_timed_params(query), *aid_filters])
        total, breakdowns = _split(rows, _aid_cell)
        return AidReport(total=total, breakdowns=breakdowns)

    async def activities(self, query: ReportQuery) -> ActivityReport:
        f = query.activities
        activity_filters = _texts(f.sector, f.level)
        rows = await self._fetch(report_sql.ACTIVITIES, [*_timed_params(query), *activity_filters])
        total, breakdowns = _split(rows, _activity_cell)
        return ActivityReport(total=total, breakdowns=breakdowns)

    async def kpis(self, query: ReportQuery) -> KpiReport:
        rows = await self._fetch(report_sql.KPIS, _cohort_params(query))
        overall = next(_outcomes(row) for row in rows if row["overall"])
        by_centre = {
            row["reception_centre"]: _outcomes(row)
            for row in sorted(rows, key=lambda row: row["reception_centre"] or "")
            if not row["overall"]
        }
        return KpiReport(overall=overall, by_centre=by_centre)

    async def _fetch(self, sql: str, params: Sequence[Any]) -> list[asyncpg.Record]:
        return list(await self._pool().fetch(sql, *params))


def _texts(*values: Enum | str | None) -> list[str | None]:
    # Enum members are passed by value: the columns hold their plain text form.
    return [value.value if isinstance(value, Enum) else value for value in values]


def _returnee_params(filters: ReturneeFilters) -> list[str | None]:
    return _texts(
        filters.reception_centre,
        filters.host_country,
        filters.return_type,
        filters.region_of_origin,
        filters.sex,
        filters.age_group,
        filters.vulnerability,
    )


def _cohort_params(query: ReportQuery) -> list[Any]:
    period = query.period
    return [period.first_day, period.last_day, *_returnee_params(query.returnees)]


def _timed_params(query: ReportQuery) -> list[Any]:
    period = query.period
    return [
        period.starts_at,
        period.ends_before,
        *_returnee_params(query.returnees),
        query.returnees.is_set,
    ]


def _split(
    rows: list[asyncpg.Record], cell: Callable[[asyncpg.Record], Cell]
) -> tuple[Cell, dict[str, list[Cell]]]:
    total = next(cell(row) for row in rows if row["breakdown"] == "total")
    breakdowns: dict[str, list[Cell]] = {}
    for row in sorted(rows, key=lambda row: (row["breakdown"], row["value"])):
        if row["breakdown"] != "total":
            breakdowns.setdefault(row["breakdown"], []).append(cell(row))
    return total, breakdowns


def _aid_cell(row: asyncpg.Record) -> AidCell:
    return AidCell(
        value=row["value"],
        aids=row["aids"],
        people=row["people"],
        total_xof=Decimal(row["total_xof"]),
        other_currency_aids=row["other_currency_aids"],
    )


def _activity_cell(row: asyncpg.Record) -> ActivityCell:
    return ActivityCell(
        value=row["value"],
        activities=row["activities"],
        participants=row["participants"],
        funding_xof=Decimal(row["funding_xof"]),
    )


def _outcomes(row: asyncpg.Record) -> CohortOutcomes:
    return CohortOutcomes(
        cohort=row["cohort"],
        aided=row["aided"],
        immediate_within_72h=row["immediate_within_72h"],
        reintegration_aided=row["reintegration_aided"],
        with_activity=row["with_activity"],
        aided_with_activity=row["aided_with_activity"],
        median_hours_to_first_aid=row["median_hours"],
    )
