"""Reads the reports out of the projections (the read side: plain SQL, no domain logic)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, TypeVar

import asyncpg

from retour_reporting.adapters import (
    case_report_rows,
    case_report_sql,
    expected_report_rows,
    expected_report_sql,
    report_sql,
)
from retour_reporting.domain.case_results import (
    PLAN_AIM_DAYS,
    ClosureReport,
    FollowUpReport,
    PlanReport,
    ReferralReport,
    SustainabilityReport,
)
from retour_reporting.domain.expected_results import ExpectedArrivalsReport
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


def today_in_mali() -> date:
    """Mali's civil day, which is UTC's all year round."""
    return datetime.now(UTC).date()


class PgReportSource:
    """``pool`` is called per query: the pool only exists once the app's lifespan started.
    ``today`` is the day reports that say what is overdue are made on."""

    def __init__(self, pool: PoolSource, today: Callable[[], date] = today_in_mali) -> None:
        self._pool = pool
        self._today = today

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

    async def plans(self, query: ReportQuery) -> PlanReport:
        rows = await self._fetch(case_report_sql.PLANS, [*_cohort_params(query), PLAN_AIM_DAYS])
        return case_report_rows.plan_report(rows, PLAN_AIM_DAYS)

    async def referrals(self, query: ReportQuery) -> ReferralReport:
        rows = await self._fetch(case_report_sql.REFERRALS, _moment_params(query))
        return case_report_rows.referral_report(rows)

    async def follow_ups(self, query: ReportQuery) -> FollowUpReport:
        as_of = self._today()
        rows = await self._fetch(case_report_sql.FOLLOW_UPS, [*_cohort_params(query), as_of])
        return case_report_rows.follow_up_report(rows, as_of)

    async def sustainability(self, query: ReportQuery) -> SustainabilityReport:
        rows = await self._fetch(case_report_sql.SUSTAINABILITY, _moment_params(query))
        return case_report_rows.sustainability_report(rows)

    async def closures(self, query: ReportQuery) -> ClosureReport:
        rows = await self._fetch(case_report_sql.CLOSURES, _moment_params(query))
        return case_report_rows.closure_report(rows)

    async def expected_arrivals(self, query: ReportQuery) -> ExpectedArrivalsReport:
        period, centre = query.period, query.returnees.reception_centre
        params = [period.first_day, period.last_day, *_texts(centre)]
        rows = await self._fetch(expected_report_sql.EXPECTED_ARRIVALS, params)
        return expected_report_rows.expected_arrivals_report(rows)

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


def _moment_params(query: ReportQuery) -> list[Any]:
    period = query.period
    return [period.starts_at, period.ends_before, *_returnee_params(query.returnees)]


def _timed_params(query: ReportQuery) -> list[Any]:
    return [*_moment_params(query), query.returnees.is_set]


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
