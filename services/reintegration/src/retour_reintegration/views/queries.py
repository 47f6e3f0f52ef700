"""SQL of the read side."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from retour_contracts import Money
from retour_kit.db import Connection
from retour_reintegration.domain.aid import MONEY_CATEGORIES, ReintegrationBudget
from retour_reintegration.views.models import (
    ActivityView,
    AidView,
    Budget,
    CaseDetails,
    CaseSummary,
)

_CASE = """
SELECT returnee_id, reception_centre, region_of_origin, arrival_date, registered_at, status,
       opened_at, closed_at, closure_reason, closed_by
FROM cases WHERE returnee_id = $1 AND ($2::text[] IS NULL OR reception_centre = ANY($2))
"""

_CASES = """
SELECT returnee_id, reception_centre, region_of_origin, arrival_date, registered_at, status,
       opened_at, closed_at, closure_reason, closed_by
FROM cases
WHERE ($1::text IS NULL OR status = $1)
  AND ($2::text[] IS NULL OR reception_centre = ANY($2))
  AND ($3::timestamptz IS NULL OR (registered_at, returnee_id) > ($3, $4::uuid))
ORDER BY registered_at, returnee_id
LIMIT $5
"""

_AID = """
SELECT aid_id, returnee_id, granted_at, phase, category, dimension, level, modality, partner,
       amount, currency, granted_by, late, exceeded_budget
FROM aid WHERE returnee_id = $1 ORDER BY granted_at, aid_id
"""

_ACTIVITIES = """
SELECT a.activity_id, a.launched_at, a.sector, a.region, a.commune, a.funding_amount,
       a.funding_currency, a.level, a.launched_by,
       (SELECT array_agg(p.returnee_id ORDER BY p.position)
          FROM activity_participants p WHERE p.activity_id = a.activity_id) AS returnee_ids,
       (SELECT coalesce(jsonb_agg(jsonb_build_object(
                   'returnee_id', p.returnee_id,
                   'amount', jsonb_build_object('amount', p.share_amount::text,
                                                'currency', p.share_currency))
                 ORDER BY p.position) FILTER (WHERE p.share_amount IS NOT NULL), '[]')
          FROM activity_participants p WHERE p.activity_id = a.activity_id) AS shares,
       (SELECT coalesce(array_agg(x.aid_id ORDER BY x.position), '{}')
          FROM activity_aid x WHERE x.activity_id = a.activity_id) AS aid_ids
FROM activities a
WHERE a.activity_id IN (SELECT activity_id FROM activity_participants WHERE returnee_id = $1)
ORDER BY a.launched_at, a.activity_id
"""

_MONEY_GRANTED = """
SELECT coalesce(sum(amount), 0) FROM aid
WHERE returnee_id = $1 AND category = ANY($2::text[]) AND currency = $3
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
            _MONEY_GRANTED, returnee_id, sorted(MONEY_CATEGORIES), budget.currency
        )
        return CaseDetails(
            **dict(case),
            budget=Budget(
                currency=budget.currency,
                limit=budget.limit,
                granted=granted,
                remaining=budget.remaining(granted),
            ),
            aid=[_aid(row) for row in aid],
            activities=[_activity(row) for row in activities],
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
    ) -> list[CaseSummary]:
        after_time, after_id = after or (None, None)
        rows = await self._conn.fetch(_CASES, status, centres, after_time, after_id, limit)
        return [CaseSummary(**dict(row)) for row in rows]


def _money(amount: Any, currency: str | None) -> Money | None:
    return None if amount is None or currency is None else Money(amount=amount, currency=currency)


def _aid(row: Any) -> AidView:
    values = dict(row)
    values["amount"] = _money(values.pop("amount"), values.pop("currency"))
    return AidView(**values)


def _activity(row: Any) -> ActivityView:
    values = dict(row)
    values["location"] = {"region": values.pop("region"), "commune": values.pop("commune")}
    values["funding"] = _money(values.pop("funding_amount"), values.pop("funding_currency"))
    return ActivityView(**values)
