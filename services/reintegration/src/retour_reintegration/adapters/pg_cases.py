"""The case repository on the service's Postgres schema (search_path pins the schema)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from uuid import UUID

import asyncpg

from retour_contracts import ActivityLaunched, AidCategory, AidGranted
from retour_kit.db import Connection
from retour_reintegration.domain.case import Case, CaseStatus, ClosureReason

_LOCK_CASE = """
SELECT returnee_id, reception_centre, region_of_origin, arrival_date, registered_at,
       status, closure_reason, closed_at, closed_by
FROM cases WHERE returnee_id = $1 FOR UPDATE
"""
# Locked in id order, so two activities sharing participants cannot deadlock.
_LOCK_CASES_SHARED = """
SELECT returnee_id, reception_centre, region_of_origin, arrival_date, registered_at,
       status, closure_reason, closed_at, closed_by
FROM cases WHERE returnee_id = ANY($1::uuid[]) ORDER BY returnee_id FOR SHARE
"""


class PgCaseRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def add_many(self, cases: Sequence[Case]) -> int:
        # One round trip for a whole consumer batch: the per-event INSERT was the consumer's
        # main cost (see docs/performance.md).
        inserted = await self._conn.fetchval(
            "WITH new AS (INSERT INTO cases (returnee_id, reception_centre, region_of_origin,"
            " arrival_date, registered_at)"
            " SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::date[],"
            " $5::timestamptz[])"
            " ON CONFLICT (returnee_id) DO NOTHING RETURNING 1)"
            " SELECT count(*) FROM new",
            [c.returnee_id for c in cases],
            [c.reception_centre for c in cases],
            [c.region_of_origin for c in cases],
            [c.arrival_date for c in cases],
            [c.registered_at for c in cases],
        )
        return int(inserted)

    async def lock(self, returnee_id: UUID) -> Case | None:
        row = await self._conn.fetchrow(_LOCK_CASE, returnee_id)
        return None if row is None else _case(row)

    async def lock_shared(self, returnee_ids: Sequence[UUID]) -> dict[UUID, Case]:
        rows = await self._conn.fetch(_LOCK_CASES_SHARED, list(returnee_ids))
        return {row["returnee_id"]: _case(row) for row in rows}

    async def money_granted(
        self, returnee_id: UUID, categories: frozenset[AidCategory], currency: str
    ) -> Decimal:
        total = await self._conn.fetchval(
            "SELECT coalesce(sum(amount), 0) FROM aid"
            " WHERE returnee_id = $1 AND category = ANY($2::text[]) AND currency = $3",
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
            "SELECT aid_id, returnee_id FROM aid WHERE aid_id = ANY($1::uuid[])", list(aid_ids)
        )
        return {row["aid_id"]: row["returnee_id"] for row in rows}

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
    )
