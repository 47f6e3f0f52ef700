"""Monitoring visits on the service's Postgres schema (migration 0005)."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

import asyncpg

from retour_contracts import VisitOutcome
from retour_kit.db import Connection
from retour_reintegration.adapters.assessments import score_columns
from retour_reintegration.domain.follow_up import FollowUp, Visit

_VISITS = "SELECT follow_up_id, returnee_id, period_months, due_on, completed_on FROM follow_ups"


class PgFollowUps:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def add(self, visits: Sequence[FollowUp]) -> list[FollowUp]:
        rows = await self._conn.fetch(
            "INSERT INTO follow_ups (follow_up_id, returnee_id, period_months, due_on)"
            " SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::int[], $4::date[])"
            " ON CONFLICT DO NOTHING RETURNING follow_up_id",
            [v.follow_up_id for v in visits],
            [v.returnee_id for v in visits],
            [v.period_months for v in visits],
            [v.due_on for v in visits],
        )
        new = {row["follow_up_id"] for row in rows}
        return [visit for visit in visits if visit.follow_up_id in new]

    async def of_cases(self, returnee_ids: Sequence[UUID]) -> dict[UUID, list[FollowUp]]:
        rows = await self._conn.fetch(
            _VISITS + " WHERE returnee_id = ANY($1::uuid[]) ORDER BY returnee_id, period_months",
            list(returnee_ids),
        )
        found: dict[UUID, list[FollowUp]] = {}
        for row in rows:
            found.setdefault(row["returnee_id"], []).append(_follow_up(row))
        return found

    async def save_due_dates(self, visits: Sequence[FollowUp]) -> None:
        await self._conn.executemany(
            "UPDATE follow_ups SET due_on = $2 WHERE follow_up_id = $1",
            [(visit.follow_up_id, visit.due_on) for visit in visits],
        )

    async def get(self, follow_up_id: UUID) -> FollowUp | None:
        row = await self._conn.fetchrow(_VISITS + " WHERE follow_up_id = $1", follow_up_id)
        return None if row is None else _follow_up(row)

    async def add_visit(self, visit: Visit) -> None:
        await self._conn.execute(
            "INSERT INTO follow_up_visits (assessment_id, follow_up_id, returnee_id, outcome,"
            " visited_on, answers, economic, social, psychosocial, composite, method,"
            " recorded_at, recorded_by)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            visit.assessment_id,
            visit.follow_up.follow_up_id,
            visit.follow_up.returnee_id,
            visit.outcome,
            visit.visited_on,
            None if visit.answers is None else dict(visit.answers),
            *score_columns(visit.scores),
            visit.method,
            visit.recorded_at,
            visit.recorded_by,
        )
        if visit.outcome is VisitOutcome.COMPLETED:
            await self._conn.execute(
                "UPDATE follow_ups SET completed_on = $2 WHERE follow_up_id = $1",
                visit.follow_up.follow_up_id,
                visit.visited_on,
            )


def _follow_up(row: asyncpg.Record) -> FollowUp:
    return FollowUp(
        follow_up_id=row["follow_up_id"],
        returnee_id=row["returnee_id"],
        period_months=row["period_months"],
        due_on=row["due_on"],
        completed_on=row["completed_on"],
    )
