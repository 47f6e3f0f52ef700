"""SQL of the read side."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from retour_contracts import ChangeReason, Money, ReceptionCentre, Share
from retour_kit.db import Connection
from retour_reintegration.adapters.pg_cases import MEMBERS, MONEY_GRANTED
from retour_reintegration.domain.aid import MONEY_CATEGORIES, ReintegrationBudget
from retour_reintegration.domain.corrections import Correction, transfers
from retour_reintegration.domain.merges import counted_once
from retour_reintegration.views import case_work
from retour_reintegration.views.models import (
    ActivityView,
    AidView,
    AssessmentView,
    Budget,
    CaseDetails,
    CaseSummary,
    CaseWorkerList,
    CaseWorkerLoad,
    DueFollowUp,
    TransferView,
)

# merged_into: the registration the person is counted as, when this one was merged into it.
_SUMMARY = """
SELECT c.returnee_id, c.reception_centre, c.region_of_origin, c.arrival_date, c.registered_at,
       c.status, c.opened_at, c.closed_at, c.closure_reason, c.closed_by, m.merged_into,
       c.assigned_to
FROM cases c LEFT JOIN case_merges m USING (returnee_id)
"""
_CASE = (
    _SUMMARY + "WHERE c.returnee_id = $1 AND ($2::text[] IS NULL OR c.reception_centre = ANY($2))"
)
_REGISTERED_VULNERABILITIES = (
    "SELECT coalesce(registered_vulnerabilities, '{}') FROM cases WHERE returnee_id = $1"
)

# $6: a case worker's cases; $7: only those nobody has.
_CASES = (
    _SUMMARY
    + """
WHERE ($1::text IS NULL OR c.status = $1)
  AND ($2::text[] IS NULL OR c.reception_centre = ANY($2))
  AND ($3::timestamptz IS NULL OR (c.registered_at, c.returnee_id) > ($3, $4::uuid))
  AND ($6::text IS NULL OR c.assigned_to = $6)
  AND (NOT $7::boolean OR c.assigned_to IS NULL)
ORDER BY c.registered_at, c.returnee_id
LIMIT $5
"""
)

# Visits not completed of open cases, by due date ($1: due before, excluded), keyset-paginated.
_DUE = """
SELECT f.follow_up_id, f.returnee_id, c.reception_centre, f.period_months, f.due_on,
       c.assigned_to,
       (SELECT count(*) FROM follow_up_visits v WHERE v.follow_up_id = f.follow_up_id)
         AS unreachable_visits
FROM follow_ups f JOIN cases c USING (returnee_id)
WHERE f.completed_on IS NULL AND c.status = 'open'
  AND ($1::date IS NULL OR f.due_on < $1)
  AND ($2::text[] IS NULL OR c.reception_centre = ANY($2))
  AND ($3::text IS NULL OR c.assigned_to = $3)
  AND ($4::date IS NULL OR (f.due_on, f.follow_up_id) > ($4, $5::uuid))
ORDER BY f.due_on, f.follow_up_id
LIMIT $6
"""

# Case workers of the centres $1 (the roster), and whoever has open cases there, with their
# open cases and visits overdue (before $2) or due (from $2 to $3, excluded) at those centres.
_WORKLOAD = """
WITH roster AS (
    SELECT subject, centres, last_seen FROM case_workers
    WHERE $1::text[] IS NULL OR centres && $1
), mine AS (
    SELECT returnee_id, assigned_to AS subject FROM cases
    WHERE status = 'open' AND assigned_to IS NOT NULL
      AND ($1::text[] IS NULL OR reception_centre = ANY($1))
), load AS (
    SELECT subject, count(*) AS open_cases FROM mine GROUP BY subject
), visits AS (
    SELECT m.subject,
           count(*) FILTER (WHERE f.due_on < $2) AS follow_ups_overdue,
           count(*) FILTER (WHERE f.due_on >= $2 AND f.due_on < $3) AS follow_ups_due
    FROM mine m JOIN follow_ups f USING (returnee_id)
    WHERE f.completed_on IS NULL
    GROUP BY m.subject
)
SELECT subject, coalesce(r.centres, '{}') AS centres, r.last_seen,
       coalesce(l.open_cases, 0) AS open_cases,
       coalesce(v.follow_ups_overdue, 0) AS follow_ups_overdue,
       coalesce(v.follow_ups_due, 0) AS follow_ups_due
FROM roster r FULL JOIN load l USING (subject) LEFT JOIN visits v USING (subject)
ORDER BY subject
"""
_UNASSIGNED = """
SELECT count(*) FROM cases
WHERE status = 'open' AND assigned_to IS NULL
  AND ($1::text[] IS NULL OR reception_centre = ANY($1))
"""

# The case's aid: granted under its registration or under one merged into it (granted_under).
# A merged registration's own case shows none: its person's case has them.
_AID = f"""
SELECT aid_id, returnee_id AS granted_under, granted_at, phase, category, dimension, level,
       modality, partner, amount, currency, granted_by, late, exceeded_budget
FROM aid WHERE returnee_id IN ({MEMBERS}) ORDER BY granted_at, aid_id
"""  # noqa: S608 (constant fragments only; every value is a parameter)

# Participants and shares named by the registration each is counted as now (a merged one by
# its person's): the domain lists a person who took part under two registrations once.
_ACTIVITIES = f"""
SELECT a.activity_id, a.launched_at, a.sector, a.region, a.commune, a.funding_amount,
       a.funding_currency, a.level, a.launched_by,
       (SELECT array_agg(coalesce(m.merged_into, p.returnee_id) ORDER BY p.position)
          FROM activity_participants p LEFT JOIN case_merges m USING (returnee_id)
         WHERE p.activity_id = a.activity_id) AS returnee_ids,
       (SELECT coalesce(jsonb_agg(jsonb_build_object(
                   'returnee_id', coalesce(m.merged_into, p.returnee_id),
                   'amount', jsonb_build_object('amount', p.share_amount::text,
                                                'currency', p.share_currency))
                 ORDER BY p.position) FILTER (WHERE p.share_amount IS NOT NULL), '[]')
          FROM activity_participants p LEFT JOIN case_merges m USING (returnee_id)
         WHERE p.activity_id = a.activity_id) AS shares,
       (SELECT coalesce(array_agg(x.aid_id ORDER BY x.position), '{{}}')
          FROM activity_aid x WHERE x.activity_id = a.activity_id) AS aid_ids
FROM activities a
WHERE a.activity_id IN (
    SELECT activity_id FROM activity_participants WHERE returnee_id IN ({MEMBERS}))
ORDER BY a.launched_at, a.activity_id
"""  # noqa: S608 (constant fragments only; every value is a parameter)

# The centre corrections, and the centre they started from: the domain pairs them up.
_TRANSFERS = """
SELECT coalesce(c.registered_centre, c.reception_centre) AS registered_centre,
       t.returnee_id, t.version, t.corrected_at, t.corrected_by, t.reason, t.reception_centre
FROM cases c JOIN case_corrections t USING (returnee_id)
WHERE c.returnee_id = $1 AND t.reception_centre IS NOT NULL
ORDER BY t.version
"""


class CaseViews:
    """The read side of one unit of work's connection."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def details(
        self, returnee_id: UUID, budget: ReintegrationBudget, *, centres: list[str] | None
    ) -> CaseDetails | None:
        """The case, if it is at one of ``centres`` (None: any centre)."""
        case = await self._conn.fetchrow(_CASE, returnee_id, centres)
        if case is None:
            return None
        aid = await self._conn.fetch(_AID, returnee_id)
        activities = await self._conn.fetch(_ACTIVITIES, returnee_id)
        granted = await self._conn.fetchval(
            MONEY_GRANTED, returnee_id, sorted(MONEY_CATEGORIES), budget.currency
        )
        moves = await self._conn.fetch(_TRANSFERS, returnee_id)
        found = await case_work.found_vulnerabilities(self._conn, returnee_id)
        registered = await self._conn.fetchval(_REGISTERED_VULNERABILITIES, returnee_id)
        return CaseDetails(
            **dict(case),
            budget=Budget(
                currency=budget.currency,
                limit=budget.limit,
                granted=granted,
                remaining=budget.remaining(granted),
            ),
            aid=[_aid(row, returnee_id) for row in aid],
            activities=[_activity(row) for row in activities],
            transfers=_transfers(moves),
            vulnerabilities=sorted({*registered, *(f.vulnerability for f in found)}),
            vulnerabilities_found=found,
            assignments=await case_work.assignments(self._conn, returnee_id),
            assessments=case_work.summaries(await case_work.assessments(self._conn, returnee_id)),
            follow_ups=await case_work.follow_ups(self._conn, returnee_id),
            reopenings=await case_work.reopenings(self._conn, returnee_id),
        )

    async def summary(self, returnee_id: UUID, *, centres: list[str] | None) -> CaseSummary | None:
        row = await self._conn.fetchrow(_CASE, returnee_id, centres)
        return None if row is None else CaseSummary(**dict(row))

    async def page(
        self,
        *,
        status: str | None,
        centres: list[str] | None,
        after: tuple[datetime, UUID] | None,
        limit: int,
        assigned_to: str | None = None,
        unassigned: bool = False,
    ) -> list[CaseSummary]:
        after_time, after_id = after or (None, None)
        rows = await self._conn.fetch(
            _CASES, status, centres, after_time, after_id, limit, assigned_to, unassigned
        )
        return [CaseSummary(**dict(row)) for row in rows]

    async def assessments(
        self, returnee_id: UUID, *, centres: list[str] | None
    ) -> list[AssessmentView] | None:
        """The case's assessments, if it is at one of ``centres`` (None: any centre)."""
        if await self._conn.fetchrow(_CASE, returnee_id, centres) is None:
            return None
        return await case_work.assessments(self._conn, returnee_id)

    async def due_follow_ups(
        self,
        *,
        due_before: date | None,
        centres: list[str] | None,
        assigned_to: str | None,
        after: tuple[date, UUID] | None,
        limit: int,
    ) -> list[DueFollowUp]:
        after_day, after_id = after or (None, None)
        rows = await self._conn.fetch(
            _DUE, due_before, centres, assigned_to, after_day, after_id, limit
        )
        return [DueFollowUp(**dict(row)) for row in rows]

    async def case_workers(
        self, *, centres: list[str] | None, today: date, due_until: date
    ) -> CaseWorkerList:
        rows = await self._conn.fetch(_WORKLOAD, centres, today, due_until)
        unassigned = await self._conn.fetchval(_UNASSIGNED, centres)
        return CaseWorkerList(
            items=[CaseWorkerLoad(**dict(row)) for row in rows],
            unassigned_open_cases=unassigned,
            due_until=due_until,
        )


def _money(amount: Any, currency: str | None) -> Money | None:
    return None if amount is None or currency is None else Money(amount=amount, currency=currency)


def _aid(row: Any, case_id: UUID) -> AidView:
    """Aid as the case's: granted to its person, naming the merged registration it was granted
    under when that is another one."""
    values = dict(row)
    values["amount"] = _money(values.pop("amount"), values.pop("currency"))
    granted_under = values.pop("granted_under")
    merged_from = None if granted_under == case_id else granted_under
    return AidView(**values, returnee_id=case_id, merged_from=merged_from)


def _activity(row: Any) -> ActivityView:
    values = dict(row)
    values["location"] = {"region": values.pop("region"), "commune": values.pop("commune")}
    values["funding"] = _money(values.pop("funding_amount"), values.pop("funding_currency"))
    shares = [Share.model_validate(share) for share in values.pop("shares")]
    values["returnee_ids"], values["shares"] = counted_once(values.pop("returnee_ids"), shares)
    return ActivityView(**values)


def _transfers(rows: Any) -> list[TransferView]:
    if not rows:
        return []
    moves = [
        Correction(
            returnee_id=row["returnee_id"],
            version=row["version"],
            corrected_at=row["corrected_at"],
            corrected_by=row["corrected_by"],
            reason=ChangeReason(row["reason"]),
            reception_centre=ReceptionCentre(row["reception_centre"]),
        )
        for row in rows
    ]
    registered = ReceptionCentre(rows[0]["registered_centre"])
    return [TransferView(**vars(transfer)) for transfer in transfers(registered, moves)]
