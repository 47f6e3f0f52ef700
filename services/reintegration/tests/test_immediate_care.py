"""The immediate-care watch: per centre, the open cases with no immediate aid whose 72 hours
end within a day, or ended in the last week; counted on the real schema, published as a
gauge with every centre present."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from uuid import UUID, uuid4

import pytest
from prometheus_client import CollectorRegistry

from retour_contracts import ReceptionCentre
from retour_kit.db import Connection, Database
from retour_reintegration.adapters.immediate_care_metrics import ImmediateCareGauge
from retour_reintegration.adapters.immediate_care_pg import care_at_risk
from retour_reintegration.domain.immediate_care import CareAtRisk, CareDeadlines, every_centre

from .test_case_work_flows import database

__all__ = ["database"]  # the reintegration schema, migrated, and a pool on it (a fixture)

NOW = datetime(2026, 3, 10, 15, 30, tzinfo=UTC)


def test_the_windows_are_the_72_hours_after_the_start_of_the_arrival_day() -> None:
    deadlines = CareDeadlines(now=NOW)
    # Due within a day: 72 hours that end after now and by this time tomorrow.
    assert deadlines.due_soon_arrived_after == NOW - timedelta(hours=72)
    assert deadlines.due_soon_arrived_until == NOW - timedelta(hours=48)
    # Overdue: ended in the last seven days.
    assert deadlines.overdue_arrived_after == NOW - timedelta(hours=72) - timedelta(days=7)


def test_every_centre_has_a_figure_zero_where_nobody_waits() -> None:
    figures = every_centre([CareAtRisk(ReceptionCentre.GAO, due_within_24h=2, overdue=1)])
    assert [f.centre for f in figures] == list(ReceptionCentre)
    assert {f.centre: (f.due_within_24h, f.overdue) for f in figures}[ReceptionCentre.GAO] == (2, 1)
    assert sum(f.due_within_24h + f.overdue for f in figures) == 3


def test_the_gauge_shows_every_centre_and_when_it_was_counted() -> None:
    registry = CollectorRegistry()
    gauge = ImmediateCareGauge(registry)
    gauge.publish([CareAtRisk(ReceptionCentre.KAYES, due_within_24h=4)], at=1_700_000_000.0)

    def value(centre: str, window: str) -> float | None:
        return registry.get_sample_value(
            "reintegration_immediate_care_pending", {"centre": centre, "window": window}
        )

    assert value("kayes", "due_within_24h") == 4
    assert value("kayes", "overdue") == 0
    assert value("tombouctou", "due_within_24h") == 0
    assert registry.get_sample_value("reintegration_immediate_care_checked_time_seconds") == (
        1_700_000_000.0
    )


async def open_case(conn: Connection, arrived: date, *, status: str = "open") -> UUID:
    returnee_id = uuid4()
    await conn.execute(
        "INSERT INTO cases (returnee_id, reception_centre, region_of_origin, arrival_date,"
        " registered_at, status, closed_at, closure_reason)"
        " VALUES ($1, 'tombouctou', 'tombouctou', $2, $3, $4, $5, $6)",
        returnee_id,
        arrived,
        datetime.combine(arrived, datetime.min.time(), tzinfo=UTC),
        status,
        None if status == "open" else datetime.now(UTC),
        None if status == "open" else "relocated",
    )
    return returnee_id


async def give_immediate_aid(conn: Connection, returnee_id: UUID, late: bool) -> None:
    await conn.execute(
        "INSERT INTO aid (aid_id, returnee_id, granted_at, phase, category, dimension, level,"
        " modality, granted_by, late, exceeded_budget)"
        " VALUES ($1, $2, now(), 'immediate', 'food', 'economic', 'individual', 'direct',"
        " 'test', $3, false)",
        uuid4(),
        returnee_id,
        late,
    )


@pytest.mark.integration
async def test_open_cases_without_immediate_aid_are_counted_in_their_window(
    database: Database,
) -> None:
    """Counted in a transaction that is rolled back: other cases of the schema (the running
    stack's) count before and after alike, so the difference is this test's."""
    now = datetime.now(UTC)
    today = now.date()
    deadlines = CareDeadlines(now=now)

    async def tombouctou(conn: Connection) -> tuple[int, int]:
        found = {r.centre: r for r in every_centre(await care_at_risk(conn, deadlines))}
        figure = found[ReceptionCentre.TOMBOUCTOU]
        return figure.due_within_24h, figure.overdue

    async with database.pool.acquire() as conn:
        transaction = conn.transaction()
        await transaction.start()
        try:
            before = await tombouctou(conn)
            await open_case(conn, today - timedelta(days=1))  # 72 h end in over a day
            await open_case(conn, today - timedelta(days=2))  # they end within a day
            await open_case(conn, today - timedelta(days=2))
            await open_case(conn, today - timedelta(days=3))  # they ended today
            await open_case(conn, today - timedelta(days=9))  # six days ago
            await open_case(conn, today - timedelta(days=11))  # eight days ago: history
            aided = await open_case(conn, today - timedelta(days=2))
            await give_immediate_aid(conn, aided, late=False)
            aided_late = await open_case(conn, today - timedelta(days=5))
            await give_immediate_aid(conn, aided_late, late=True)
            await open_case(conn, today - timedelta(days=3), status="closed")
            after = await tombouctou(conn)
        finally:
            await transaction.rollback()  # nothing of this test stays in the schema

    assert (after[0] - before[0], after[1] - before[1]) == (2, 2)
