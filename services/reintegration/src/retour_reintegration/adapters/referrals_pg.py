"""Referrals on the service's Postgres schema: the repository of the use cases, and the reads
of the API, each within the reader's centres (those of the referral's case, as it is now)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

import asyncpg

from retour_contracts import AidCategory, Dimension, ReferralStatus
from retour_kit.db import Connection
from retour_reintegration.domain.referral import Referral
from retour_reintegration.views.referral_models import ReferralStep, ReferralView

# The partner's name as it is now: a referral shows the partner under its current name.
_REFERRALS = """
SELECT r.referral_id, r.returnee_id, r.plan_item_id, r.revision, r.partner_id,
       p.name AS partner_name, r.dimension, r.category, r.status, r.sent_at, r.sent_by,
       r.status_at, r.status_by
FROM referrals r JOIN partners p USING (partner_id) JOIN cases c USING (returnee_id)
"""
_IN_CENTRES = "($1::text[] IS NULL OR c.reception_centre = ANY($1))"
_OF_CASE = f"{_REFERRALS} WHERE {_IN_CENTRES} AND r.returnee_id = $2 ORDER BY r.sent_at"
_ONE = f"{_REFERRALS} WHERE {_IN_CENTRES} AND r.referral_id = $2"
# Newest first, keyset-paginated on (sent_at, referral_id).
_PAGE = f"""{_REFERRALS}
WHERE {_IN_CENTRES}
  AND ($2::uuid IS NULL OR r.partner_id = $2)
  AND ($3::text IS NULL OR r.status = $3)
  AND ($4::timestamptz IS NULL OR (r.sent_at, r.referral_id) < ($4, $5::uuid))
ORDER BY r.sent_at DESC, r.referral_id DESC
LIMIT $6
"""
_LOCK = f"{_REFERRALS} WHERE r.referral_id = $1 FOR UPDATE OF r"
_STEPS = """
SELECT referral_id, status, changed_at, changed_by FROM referral_status_changes
WHERE referral_id = ANY($1::uuid[]) ORDER BY change_id
"""
_ADD = """
INSERT INTO referrals (referral_id, returnee_id, revision, plan_item_id, partner_id, dimension,
                       category, status, sent_at, sent_by, status_at, status_by)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
"""
_STEP = """
INSERT INTO referral_status_changes (referral_id, status, changed_at, changed_by)
VALUES ($1, $2, $3, $4)
"""


class PgReferrals:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def open_of_item(self, returnee_id: UUID, plan_item_id: UUID) -> UUID | None:
        found: UUID | None = await self._conn.fetchval(
            "SELECT referral_id FROM referrals WHERE returnee_id = $1 AND plan_item_id = $2"
            " AND status IN ('sent', 'accepted')",
            returnee_id,
            plan_item_id,
        )
        return found

    async def add(self, referral: Referral) -> None:
        await self._conn.execute(
            _ADD,
            referral.referral_id,
            referral.returnee_id,
            referral.revision,
            referral.plan_item_id,
            referral.partner_id,
            referral.dimension,
            referral.category,
            referral.status,
            referral.sent_at,
            referral.sent_by,
            referral.status_at,
            referral.status_by,
        )
        await self._step(referral)

    async def case_of(self, referral_id: UUID) -> UUID | None:
        found: UUID | None = await self._conn.fetchval(
            "SELECT returnee_id FROM referrals WHERE referral_id = $1", referral_id
        )
        return found

    async def lock(self, referral_id: UUID) -> Referral | None:
        row = await self._conn.fetchrow(_LOCK, referral_id)
        return None if row is None else _referral(row)

    async def save_status(self, referral: Referral) -> None:
        await self._conn.execute(
            "UPDATE referrals SET status = $2, status_at = $3, status_by = $4"
            " WHERE referral_id = $1",
            referral.referral_id,
            referral.status,
            referral.status_at,
            referral.status_by,
        )
        await self._step(referral)

    async def _step(self, referral: Referral) -> None:
        await self._conn.execute(
            _STEP, referral.referral_id, referral.status, referral.status_at, referral.status_by
        )

    async def view(self, referral_id: UUID, *, centres: list[str] | None) -> ReferralView | None:
        views = await self._views(await self._conn.fetch(_ONE, centres, referral_id))
        return views[0] if views else None

    async def of_case(self, returnee_id: UUID, *, centres: list[str] | None) -> list[ReferralView]:
        return await self._views(await self._conn.fetch(_OF_CASE, centres, returnee_id))

    async def page(
        self,
        *,
        centres: list[str] | None,
        partner_id: UUID | None,
        status: ReferralStatus | None,
        after: tuple[datetime, UUID] | None,
        limit: int,
    ) -> list[ReferralView]:
        after_time, after_id = after or (None, None)
        rows = await self._conn.fetch(
            _PAGE, centres, partner_id, status, after_time, after_id, limit
        )
        return await self._views(rows)

    async def _views(self, rows: Sequence[asyncpg.Record]) -> list[ReferralView]:
        if not rows:
            return []
        steps: dict[UUID, list[ReferralStep]] = {}
        for step in await self._conn.fetch(_STEPS, [row["referral_id"] for row in rows]):
            values = dict(step)
            steps.setdefault(values.pop("referral_id"), []).append(ReferralStep(**values))
        return [
            ReferralView(**dict(row), history=steps.get(row["referral_id"], [])) for row in rows
        ]


def _referral(row: asyncpg.Record) -> Referral:
    return Referral(
        referral_id=row["referral_id"],
        returnee_id=row["returnee_id"],
        plan_item_id=row["plan_item_id"],
        revision=row["revision"],
        partner_id=row["partner_id"],
        partner_name=row["partner_name"],
        dimension=Dimension(row["dimension"]),
        category=AidCategory(row["category"]),
        status=ReferralStatus(row["status"]),
        sent_at=row["sent_at"],
        sent_by=row["sent_by"],
        status_at=row["status_at"],
        status_by=row["status_by"],
    )
