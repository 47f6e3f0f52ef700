"""The case repository on the service's Postgres schema (search_path pins the schema)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from decimal import Decimal
from uuid import UUID

import asyncpg

from retour_contracts import (
    ActivityLaunched,
    AidCategory,
    AidGranted,
    ChangeReason,
    MaliRegion,
    ReceptionCentre,
    Vulnerability,
)
from retour_kit.db import Connection
from retour_reintegration.domain.assignment import Assignment
from retour_reintegration.domain.case import Case, CaseStatus, ClosureReason
from retour_reintegration.domain.closure import Reopening
from retour_reintegration.domain.corrections import CaseFacts, Correction
from retour_reintegration.domain.merges import Merge

# A case as the domain sees it. The registered facts are NULL until a correction first changes
# the case (migration 0003): the current ones are the registered ones until then.
_CASE_COLUMNS = """
SELECT returnee_id, reception_centre, region_of_origin, arrival_date, registered_at,
       status, closure_reason, closed_at, closed_by, assigned_to,
       coalesce(registered_vulnerabilities, '{}') AS registered_vulnerabilities,
       coalesce(registered_centre, reception_centre) AS registered_centre,
       coalesce(registered_region_of_origin, region_of_origin) AS registered_region_of_origin,
       coalesce(registered_arrival_date, arrival_date) AS registered_arrival_date
FROM cases
"""
_LOCK_CASE = _CASE_COLUMNS + "WHERE returnee_id = $1 FOR UPDATE"
# Locked in id order, so two activities sharing participants cannot deadlock (nor an activity
# and a batch of corrections, which locks its cases in the same order).
_LOCK_CASES_SHARED = (
    _CASE_COLUMNS + "WHERE returnee_id = ANY($1::uuid[]) ORDER BY returnee_id FOR SHARE"
)
_LOCK_CASES = _CASE_COLUMNS + "WHERE returnee_id = ANY($1::uuid[]) ORDER BY returnee_id FOR UPDATE"

# returnee.registered, returnee.updated and returnee.merged are different topics, applied side
# by side in transactions blind to each other's uncommitted rows: a registration batch could
# open a case without seeing a correction (or a merge) being stored, while that correction
# looks for the case and does not find it yet, and the correction would never be applied. All
# take this gate first, so the later one sees what the earlier one committed. Registrations
# take it shared (their batches, thousands of cases each, never wait on each other, and it is
# one lock however many people a batch holds); corrections and merges, rare staff decisions,
# take it exclusive (which also makes merges take turns: each builds on the chains the one
# before kept). A transaction takes it before it locks any case, then locks its cases in one
# statement in id order, as HTTP requests do, so no two transactions wait on each other in a
# cycle.
_GATE_SHARED = "SELECT pg_advisory_xact_lock_shared(hashtext('reintegration.case_facts'), 0)"
_GATE_EXCLUSIVE = "SELECT pg_advisory_xact_lock(hashtext('reintegration.case_facts'), 0)"

_ADD_CORRECTIONS = """
WITH new AS (
    INSERT INTO case_corrections (returnee_id, version, corrected_at, corrected_by, reason,
                                  reception_centre, region_of_origin, arrival_date)
    SELECT * FROM unnest($1::uuid[], $2::int[], $3::timestamptz[], $4::text[], $5::text[],
                         $6::text[], $7::text[], $8::date[])
    ON CONFLICT (returnee_id, version) DO NOTHING RETURNING 1)
SELECT count(*) FROM new
"""

# Kept merges (case_merges' merged_into: the registration each is counted as now).
_MERGES = """
SELECT returnee_id, merged_into, merged_at, merged_by FROM case_merges
WHERE returnee_id = ANY($1::uuid[])
"""
# The registrations named, and those counted as one of them (a chain to extend).
_MERGES_AROUND = """
SELECT returnee_id, merged_into, merged_at, merged_by FROM case_merges
WHERE returnee_id = ANY($1::uuid[]) OR merged_into = ANY($1::uuid[])
"""
_SAVE_MERGES = """
INSERT INTO case_merges (returnee_id, merged_into, merged_at, merged_by)
SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::timestamptz[], $4::text[])
ON CONFLICT (returnee_id) DO UPDATE
    SET merged_into = excluded.merged_into, merged_at = excluded.merged_at,
        merged_by = excluded.merged_by
"""
# The registrations whose aid counts for the case of $1: its own, unless it was merged into
# another (then it counts for none: its person's case has it), and those merged into it.
MEMBERS = """
SELECT $1::uuid WHERE NOT EXISTS (SELECT 1 FROM case_merges WHERE returnee_id = $1::uuid)
UNION ALL
SELECT returnee_id FROM case_merges WHERE merged_into = $1::uuid
"""
# What the person of the case of $1 received in the categories $2, in currency $3.
MONEY_GRANTED = f"""
SELECT coalesce(sum(amount), 0) FROM aid
WHERE returnee_id IN ({MEMBERS}) AND category = ANY($2::text[]) AND currency = $3
"""  # noqa: S608 (constant fragments only; every value is a parameter)

_CORRECTIONS = """
SELECT returnee_id, version, corrected_at, corrected_by, reason, reception_centre,
       region_of_origin, arrival_date
FROM case_corrections WHERE returnee_id = ANY($1::uuid[]) ORDER BY returnee_id, version
"""


class PgCaseRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def add_many(self, cases: Sequence[Case]) -> list[UUID]:
        await self._conn.execute(_GATE_SHARED)
        # One round trip for a whole consumer batch: the per-event INSERT was the consumer's
        # main cost (see docs/performance.md). unnest flattens an array of arrays, so each
        # case's vulnerabilities travel as one comma-separated string of codes.
        rows = await self._conn.fetch(
            "INSERT INTO cases (returnee_id, reception_centre, region_of_origin, arrival_date,"
            " registered_at, registered_vulnerabilities)"
            " SELECT r, c, o, a, t, string_to_array(v, ',')"
            " FROM unnest($1::uuid[], $2::text[], $3::text[], $4::date[], $5::timestamptz[],"
            " $6::text[]) AS new (r, c, o, a, t, v)"
            " ON CONFLICT (returnee_id) DO NOTHING RETURNING returnee_id",
            [c.returnee_id for c in cases],
            [c.reception_centre for c in cases],
            [c.region_of_origin for c in cases],
            [c.arrival_date for c in cases],
            [c.registered_at for c in cases],
            [",".join(c.vulnerabilities) for c in cases],
        )
        return [row["returnee_id"] for row in rows]

    async def lock(self, returnee_id: UUID) -> Case | None:
        row = await self._conn.fetchrow(_LOCK_CASE, returnee_id)
        if row is None:
            return None
        return (await self._with_merges([row]))[returnee_id]

    async def lock_shared(self, returnee_ids: Sequence[UUID]) -> dict[UUID, Case]:
        return await self._with_merges(
            await self._conn.fetch(_LOCK_CASES_SHARED, list(returnee_ids))
        )

    async def lock_many(self, returnee_ids: Sequence[UUID]) -> dict[UUID, Case]:
        return await self._with_merges(await self._conn.fetch(_LOCK_CASES, list(returnee_ids)))

    async def _with_merges(self, rows: Sequence[asyncpg.Record]) -> dict[UUID, Case]:
        cases = {row["returnee_id"]: _case(row) for row in rows}
        # Only a closed case can have been merged (a merge closes it, under the gate, and a
        # registration read after its merge opens closed): an open one needs no second read.
        # Read in a statement of its own, after the cases are locked: a merge that committed
        # while this waited for a case's lock is seen (the locking statement's snapshot
        # predates it, and would show the case closed but not why).
        closed = [returnee_id for returnee_id, case in cases.items() if not case.is_open]
        if closed:
            for merged in await self._conn.fetch(_MERGES, closed):
                case = cases[merged["returnee_id"]]
                cases[case.returnee_id] = replace(case, merged_into=merged["merged_into"])
        return cases

    async def merges_for_update(self, returnee_ids: Sequence[UUID]) -> dict[UUID, Merge]:
        await self._conn.execute(_GATE_EXCLUSIVE)
        rows = await self._conn.fetch(_MERGES_AROUND, list(returnee_ids))
        return {row["returnee_id"]: _merge(row) for row in rows}

    async def save_merges(self, merges: Sequence[Merge]) -> None:
        await self._conn.execute(
            _SAVE_MERGES,
            [m.returnee_id for m in merges],
            [m.merged_into for m in merges],
            [m.merged_at for m in merges],
            [m.merged_by for m in merges],
        )

    async def merges_of(self, returnee_ids: Sequence[UUID]) -> dict[UUID, Merge]:
        rows = await self._conn.fetch(_MERGES, list(returnee_ids))
        return {row["returnee_id"]: _merge(row) for row in rows}

    async def add_corrections(self, corrections: Sequence[Correction]) -> int:
        await self._conn.execute(_GATE_EXCLUSIVE)
        inserted = await self._conn.fetchval(
            _ADD_CORRECTIONS,
            [c.returnee_id for c in corrections],
            [c.version for c in corrections],
            [c.corrected_at for c in corrections],
            [c.corrected_by for c in corrections],
            [c.reason for c in corrections],
            [c.reception_centre for c in corrections],
            [c.region_of_origin for c in corrections],
            [c.arrival_date for c in corrections],
        )
        return int(inserted)

    async def corrections_of(self, returnee_ids: Sequence[UUID]) -> dict[UUID, list[Correction]]:
        rows = await self._conn.fetch(_CORRECTIONS, list(returnee_ids))
        found: dict[UUID, list[Correction]] = {}
        for row in rows:
            found.setdefault(row["returnee_id"], []).append(_correction(row))
        return found

    async def save_facts(self, cases: Sequence[Case]) -> None:
        await self._conn.executemany(
            "UPDATE cases SET reception_centre = $2, region_of_origin = $3, arrival_date = $4,"
            " registered_centre = $5, registered_region_of_origin = $6,"
            " registered_arrival_date = $7"
            " WHERE returnee_id = $1",
            [
                (
                    case.returnee_id,
                    case.reception_centre,
                    case.region_of_origin,
                    case.arrival_date,
                    case.as_registered.reception_centre,
                    case.as_registered.region_of_origin,
                    case.as_registered.arrival_date,
                )
                for case in cases
            ],
        )

    async def money_granted(
        self, returnee_id: UUID, categories: frozenset[AidCategory], currency: str
    ) -> Decimal:
        # The person's: what was granted under registrations merged into this one counts too.
        total = await self._conn.fetchval(
            MONEY_GRANTED,
            returnee_id,
            sorted(categories),
            currency,
        )
        return Decimal(total)

    async def add_aid(self, aid: AidGranted, *, exceeded_budget: bool) -> None:
        await self._conn.execute(
            "INSERT INTO aid (aid_id, returnee_id, granted_at, phase, category, dimension, level,"
            " modality, partner, amount, currency, granted_by, late, exceeded_budget)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
            aid.aid_id,
            aid.returnee_id,
            aid.granted_at,
            aid.phase,
            aid.category,
            aid.dimension,
            aid.level,
            aid.modality,
            aid.partner,
            aid.amount.amount if aid.amount else None,
            aid.amount.currency if aid.amount else None,
            aid.granted_by,
            aid.late,
            exceeded_budget,
        )

    async def aid_owners(self, aid_ids: Sequence[UUID]) -> dict[UUID, UUID]:
        if not aid_ids:
            return {}
        rows = await self._conn.fetch(
            "SELECT a.aid_id, coalesce(m.merged_into, a.returnee_id) AS person"
            " FROM aid a LEFT JOIN case_merges m USING (returnee_id)"
            " WHERE a.aid_id = ANY($1::uuid[])",
            list(aid_ids),
        )
        return {row["aid_id"]: row["person"] for row in rows}

    async def add_activity(self, activity: ActivityLaunched, *, launched_by: str) -> None:
        funding = activity.funding
        await self._conn.execute(
            "INSERT INTO activities (activity_id, launched_at, sector, region, commune,"
            " funding_amount, funding_currency, level, launched_by)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            activity.activity_id,
            activity.launched_at,
            activity.sector,
            activity.location.region,
            activity.location.commune,
            funding.amount if funding else None,
            funding.currency if funding else None,
            activity.level,
            launched_by,
        )
        shares = {share.returnee_id: share.amount for share in activity.shares}
        await self._conn.executemany(
            "INSERT INTO activity_participants (activity_id, returnee_id, position, share_amount,"
            " share_currency) VALUES ($1, $2, $3, $4, $5)",
            [
                (
                    activity.activity_id,
                    returnee_id,
                    position,
                    shares[returnee_id].amount if returnee_id in shares else None,
                    shares[returnee_id].currency if returnee_id in shares else None,
                )
                for position, returnee_id in enumerate(activity.returnee_ids)
            ],
        )
        await self._conn.executemany(
            "INSERT INTO activity_aid (activity_id, aid_id, position) VALUES ($1, $2, $3)",
            [(activity.activity_id, aid_id, n) for n, aid_id in enumerate(activity.aid_ids)],
        )

    async def save_closure(self, case: Case) -> None:
        await self._conn.execute(
            "UPDATE cases SET status = $2, closure_reason = $3, closed_at = $4, closed_by = $5"
            " WHERE returnee_id = $1",
            case.returnee_id,
            case.status,
            case.closure_reason,
            case.closed_at,
            case.closed_by,
        )

    async def save_reopening(self, case: Case, reopening: Reopening) -> None:
        await self.save_closure(case)
        await self._conn.execute(
            "INSERT INTO case_reopenings (returnee_id, reopened_at, reopened_by, reason,"
            " closure_reason, closed_at, closed_by) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            reopening.returnee_id,
            reopening.reopened_at,
            reopening.reopened_by,
            reopening.reason,
            reopening.closure_reason,
            reopening.closed_at,
            reopening.closed_by,
        )

    async def save_assignment(self, assignment: Assignment) -> None:
        await self._conn.execute(
            "UPDATE cases SET assigned_to = $2 WHERE returnee_id = $1",
            assignment.returnee_id,
            assignment.assigned_to,
        )
        await self._conn.execute(
            "INSERT INTO case_assignments (returnee_id, reception_centre, assigned_to, previous,"
            " assigned_by, assigned_at) VALUES ($1, $2, $3, $4, $5, $6)",
            assignment.returnee_id,
            assignment.reception_centre,
            assignment.assigned_to,
            assignment.previous,
            assignment.assigned_by,
            assignment.assigned_at,
        )


def _case(row: asyncpg.Record) -> Case:
    reason = row["closure_reason"]
    return Case(
        returnee_id=row["returnee_id"],
        reception_centre=row["reception_centre"],
        region_of_origin=row["region_of_origin"],
        arrival_date=row["arrival_date"],
        registered_at=row["registered_at"],
        status=CaseStatus(row["status"]),
        closure_reason=None if reason is None else ClosureReason(reason),
        closed_at=row["closed_at"],
        closed_by=row["closed_by"],
        assigned_to=row["assigned_to"],
        vulnerabilities=tuple(Vulnerability(v) for v in row["registered_vulnerabilities"]),
        as_registered=CaseFacts(
            reception_centre=ReceptionCentre(row["registered_centre"]),
            region_of_origin=MaliRegion(row["registered_region_of_origin"]),
            arrival_date=row["registered_arrival_date"],
        ),
    )


def _merge(row: asyncpg.Record) -> Merge:
    return Merge(
        returnee_id=row["returnee_id"],
        merged_into=row["merged_into"],
        merged_at=row["merged_at"],
        merged_by=row["merged_by"],
    )


def _correction(row: asyncpg.Record) -> Correction:
    centre, region = row["reception_centre"], row["region_of_origin"]
    return Correction(
        returnee_id=row["returnee_id"],
        version=row["version"],
        corrected_at=row["corrected_at"],
        corrected_by=row["corrected_by"],
        reason=ChangeReason(row["reason"]),
        reception_centre=None if centre is None else ReceptionCentre(centre),
        region_of_origin=None if region is None else MaliRegion(region),
        arrival_date=row["arrival_date"],
    )
