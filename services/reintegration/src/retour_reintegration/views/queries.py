"""SQL of the read side."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from retour_contracts import ChangeReason, Money, ReceptionCentre, Share
from retour_kit.db import Connection
from retour_reintegration.adapters.pg_cases import MEMBERS, MONEY_GRANTED
from retour_reintegration.domain.aid import MONEY_CATEGORIES, ReintegrationBudget
from retour_reintegration.domain.corrections import Correction, transfers
from retour_reintegration.domain.merges import counted_once
from retour_reintegration.views.models import (
    ActivityView,
    AidView,
    Budget,
    CaseDetails,
    CaseSummary,
    TransferView,
)

# merged_into: the registration the person is counted as, when this one was merged into it.
_CASE = """
SELECT c.returnee_id, c.reception_centre, c.region_of_origin, c.arrival_date, c.registered_at,
       c.status, c.opened_at, c.closed_at, c.closure_reason, c.closed_by, m.merged_into
FROM cases c LEFT JOIN case_merges m USING (returnee_id)
WHERE c.returnee_id = $1 AND ($2::text[] IS NULL OR c.reception_centre = ANY($2))
"""

_CASES = """
SELECT c.returnee_id, c.reception_centre, c.region_of_origin, c.arrival_date, c.registered_at,
       c.status, c.opened_at, c.closed_at, c.closure_reason, c.closed_by, m.merged_into
FROM cases c LEFT JOIN case_merges m USING (returnee_id)
WHERE ($1::text IS NULL OR c.status = $1)
  AND ($2::text[] IS NULL OR c.reception_centre = ANY($2))
  AND ($3::timestamptz IS NULL OR (c.registered_at, c.returnee_id) > ($3, $4::uuid))
ORDER BY c.registered_at, c.returnee_id
LIMIT $5
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
