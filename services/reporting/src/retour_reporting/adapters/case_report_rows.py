"""The rows of the case reports (case_report_sql) turned into their results."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from uuid import UUID

import asyncpg

from retour_contracts import ClosureReason, ReferralStatus, ReopeningReason
from retour_reporting.domain.case_results import (
    SCORE_DECIMALS,
    CaseCell,
    ClosureReport,
    FollowUpPeriod,
    FollowUpReport,
    PartnerReferrals,
    PlanOutcomes,
    PlanReport,
    ReferralCell,
    ReferralGroup,
    ReferralReport,
    ScoreCell,
    Scores,
    ScoreSeries,
    SustainabilityReport,
    VisitCounts,
)

Rows = Sequence[asyncpg.Record]


def plan_report(rows: Rows, aim_days: int) -> PlanReport:
    overall = next(_plan_outcomes(row) for row in rows if row["overall"])
    by_centre = {
        row["reception_centre"]: _plan_outcomes(row)
        for row in sorted(rows, key=lambda row: row["reception_centre"] or "")
        if not row["overall"]
    }
    return PlanReport(aim_days=aim_days, overall=overall, by_centre=by_centre)


def _plan_outcomes(row: asyncpg.Record) -> PlanOutcomes:
    return PlanOutcomes(
        cohort=row["cohort"],
        with_plan=row["with_plan"],
        within_aim=row["within_aim"],
        median_days=row["median_days"],
    )


def referral_report(rows: Rows) -> ReferralReport:
    """Every status is listed, with zeros where there is none; partners by name, then id."""
    cells: dict[tuple[UUID | None, str | None], ReferralCell] = {}
    names: dict[UUID, str] = {}
    for row in rows:
        partner = None if row["all_partners"] else row["partner_id"]
        status = None if row["all_statuses"] else row["status"]
        cells[(partner, status)] = ReferralCell(row["referrals"], row["people"])
        if partner is not None and status is None:
            names[partner] = row["partner_name"]

    def group(partner: UUID | None) -> ReferralGroup:
        return ReferralGroup(
            total=cells.get((partner, None), ReferralCell(0, 0)),
            by_status={
                status.value: cells.get((partner, status.value), ReferralCell(0, 0))
                for status in ReferralStatus
            },
        )

    partners = [
        PartnerReferrals(partner_id=partner, partner_name=name, referrals=group(partner))
        for partner, name in sorted(names.items(), key=lambda item: (item[1], str(item[0])))
    ]
    return ReferralReport(overall=group(None), partners=partners)


def follow_up_report(rows: Rows, as_of: date) -> FollowUpReport:
    periods: dict[int, tuple[list[asyncpg.Record], list[asyncpg.Record]]] = {}
    for row in rows:
        overall, centres = periods.setdefault(row["period_months"], ([], []))
        (overall if row["overall"] else centres).append(row)
    return FollowUpReport(
        as_of=as_of,
        periods=[
            FollowUpPeriod(
                period_months=months,
                overall=_visits(overall[0]),
                by_centre={
                    row["reception_centre"]: _visits(row)
                    for row in sorted(centres, key=lambda row: row["reception_centre"])
                },
            )
            for months, (overall, centres) in sorted(periods.items())
        ],
    )


def _visits(row: asyncpg.Record) -> VisitCounts:
    return VisitCounts(
        scheduled=row["scheduled"],
        completed=row["completed"],
        unreachable=row["unreachable"],
        overdue=row["overdue"],
        due=row["due"],
    )


def sustainability_report(rows: Rows) -> SustainabilityReport:
    """Series by kind (the baseline first), visit period and method; cells by value."""
    series: dict[tuple[str, int | None, str], dict[str, list[ScoreCell]]] = {}
    for row in sorted(rows, key=lambda row: (row["breakdown"], row["value"])):
        key = (row["kind"], row["period_months"], row["method"])
        series.setdefault(key, {}).setdefault(row["breakdown"], []).append(_score_cell(row))
    return SustainabilityReport(
        series=[
            ScoreSeries(
                kind=kind,
                period_months=months,
                method=method,
                total=cells.pop("total")[0],
                breakdowns=cells,
            )
            for (kind, months, method), cells in sorted(
                series.items(), key=lambda item: (item[0][0], item[0][1] or 0, item[0][2])
            )
        ]
    )


def _score_cell(row: asyncpg.Record) -> ScoreCell:
    means = Scores(
        *(
            round(row[name], SCORE_DECIMALS)
            for name in ("economic", "social", "psychosocial", "composite")
        )
    )
    return ScoreCell(value=row["value"], people=row["people"], means=means)


def closure_report(rows: Rows) -> ClosureReport:
    counts = {(row["event"], None if row["all_reasons"] else row["reason"]): row for row in rows}

    def total(event: str) -> int:
        row = counts.get((event, None))
        return row["cases"] if row else 0

    def by_reason(event: str, reasons: Sequence[str]) -> list[CaseCell]:
        return [
            CaseCell(reason, counts[(event, reason)]["cases"])
            for reason in reasons
            if (event, reason) in counts
        ]

    return ClosureReport(
        closed=total("closure"),
        by_reason=by_reason("closure", [reason.value for reason in ClosureReason]),
        reopenings=total("reopening"),
        reopenings_by_reason=by_reason("reopening", [reason.value for reason in ReopeningReason]),
    )
