"""Monitoring visits and their cases in the service's schema (migration 0008), on one connection:
the consumer's, or one of the follow-up worker's short transactions."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date
from typing import Any
from uuid import UUID

from retour_kit.db import Connection
from retour_notifications.domain.follow_ups import Case, FollowUps, Schedule, Visit

_CASES = """
SELECT returnee_id, assigned_to, assigned_at, closed_at, reopened_at
FROM follow_up_cases WHERE returnee_id = ANY($1::uuid[])
"""

_VISITS = """
SELECT follow_up_id, returnee_id, reception_centre, period_months, due_on, scheduled_at,
    scheduled_event_id, visited_at, live, reminder_id, overdue_id
FROM follow_ups WHERE returnee_id = ANY($1::uuid[])
"""

_SAVE_CASE = """
INSERT INTO follow_up_cases (returnee_id, assigned_to, assigned_at, closed_at, reopened_at)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (returnee_id) DO UPDATE SET assigned_to = excluded.assigned_to,
    assigned_at = excluded.assigned_at, closed_at = excluded.closed_at,
    reopened_at = excluded.reopened_at
"""

_SAVE_VISIT = """
INSERT INTO follow_ups (follow_up_id, returnee_id, reception_centre, period_months, due_on,
    scheduled_at, scheduled_event_id, visited_at, live, reminder_id, overdue_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
ON CONFLICT (follow_up_id) DO UPDATE SET reception_centre = excluded.reception_centre,
    period_months = excluded.period_months, due_on = excluded.due_on,
    scheduled_at = excluded.scheduled_at, scheduled_event_id = excluded.scheduled_event_id,
    visited_at = excluded.visited_at, live = excluded.live, reminder_id = excluded.reminder_id,
    overdue_id = excluded.overdue_id
"""

# Candidates only: the worker takes the returnee's lock, reads the visit again and lets the
# domain decide. A reminder needs a phone (hence SMS consent): visits of people not registered
# yet, or not to be texted, are not even looked at, until a registration brings a number.
_TO_REMIND = """
SELECT f.follow_up_id, f.returnee_id FROM follow_ups f
WHERE f.live AND f.reminder_id IS NULL AND f.due_on > $1 AND f.due_on <= $2
  AND EXISTS (SELECT 1 FROM contacts c WHERE c.returnee_id = f.returnee_id AND c.phone IS NOT NULL)
ORDER BY f.due_on, f.follow_up_id
LIMIT $3
"""

_TO_CHASE = """
SELECT follow_up_id, returnee_id FROM follow_ups
WHERE live AND overdue_id IS NULL AND due_on > $1 AND due_on <= $2
ORDER BY due_on, follow_up_id
LIMIT $3
"""


class PgFollowUps:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def load(self, returnee_ids: Collection[UUID]) -> dict[UUID, FollowUps]:
        """The cases and visits of these returnees; an empty state for those not known."""
        ids = list(dict.fromkeys(returnee_ids))
        if not ids:
            return {}
        cases = {
            row["returnee_id"]: Case(**dict(row)) for row in await self._conn.fetch(_CASES, ids)
        }
        visits: dict[UUID, dict[UUID, Visit]] = {rid: {} for rid in ids}
        for row in await self._conn.fetch(_VISITS, ids):
            visits[row["returnee_id"]][row["follow_up_id"]] = _visit(row)
        return {rid: FollowUps(cases.get(rid) or Case(rid), visits[rid]) for rid in ids}

    async def save(self, states: Sequence[FollowUps]) -> None:
        if not states:
            return
        await self._conn.executemany(
            _SAVE_CASE,
            [
                (c.returnee_id, c.assigned_to, c.assigned_at, c.closed_at, c.reopened_at)
                for c in (state.case for state in states)
            ],
        )
        rows = [_visit_row(v) for state in states for v in state.visits.values()]
        if rows:
            await self._conn.executemany(_SAVE_VISIT, rows)

    async def reminders_due(self, after: date, until: date, limit: int) -> list[tuple[UUID, UUID]]:
        """(follow_up_id, returnee_id) of live visits due after ``after`` and up to ``until``,
        not reminded yet, of returnees with a phone."""
        rows = await self._conn.fetch(_TO_REMIND, after, until, limit)
        return [(row["follow_up_id"], row["returnee_id"]) for row in rows]

    async def overdue(self, after: date, until: date, limit: int) -> list[tuple[UUID, UUID]]:
        """(follow_up_id, returnee_id) of live visits due after ``after`` and up to ``until``,
        whose case worker was not told yet."""
        rows = await self._conn.fetch(_TO_CHASE, after, until, limit)
        return [(row["follow_up_id"], row["returnee_id"]) for row in rows]


def _visit(row: Any) -> Visit:
    schedule = None
    if row["due_on"] is not None:
        schedule = Schedule(
            reception_centre=row["reception_centre"],
            period_months=row["period_months"],
            due_on=row["due_on"],
            published_at=row["scheduled_at"],
            event_id=row["scheduled_event_id"],
        )
    return Visit(
        follow_up_id=row["follow_up_id"],
        returnee_id=row["returnee_id"],
        schedule=schedule,
        visited_at=row["visited_at"],
        live=row["live"],
        reminder_id=row["reminder_id"],
        overdue_id=row["overdue_id"],
    )


def _visit_row(visit: Visit) -> tuple[object, ...]:
    s = visit.schedule
    return (
        visit.follow_up_id,
        visit.returnee_id,
        None if s is None else s.reception_centre,
        None if s is None else s.period_months,
        None if s is None else s.due_on,
        None if s is None else s.published_at,
        None if s is None else s.event_id,
        visit.visited_at,
        visit.live,
        visit.reminder_id,
        visit.overdue_id,
    )
