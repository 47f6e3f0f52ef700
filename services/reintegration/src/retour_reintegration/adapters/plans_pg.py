"""Reintegration plans on the service's Postgres schema: revisions, their items, and the
history of the items' statuses."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

import asyncpg

from retour_contracts import AidCategory, Dimension, PlanItemStatus, Provider
from retour_kit.db import Connection
from retour_reintegration.domain.plan import (
    Agreement,
    Plan,
    PlanItem,
    PlanRevision,
    StatusChange,
)

_REVISIONS = """
SELECT revision, drafted_at, drafted_by, agreed_on, agreed_by, agreed_at
FROM plan_revisions WHERE returnee_id = $1 ORDER BY revision
"""
_ITEMS = """
SELECT revision, item_id, dimension, category, provider, partner_id, target_date, status
FROM plan_items WHERE returnee_id = $1 ORDER BY revision, position
"""
_CHANGES = """
SELECT returnee_id, item_id, revision, from_status, to_status, changed_at, changed_by
FROM plan_item_status_changes WHERE returnee_id = $1 ORDER BY change_id
"""


class PgPlans:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def revisions(self, returnee_id: UUID) -> list[PlanRevision]:
        """Every revision of the case's plan, oldest first (a plan has a handful)."""
        revisions = await self._conn.fetch(_REVISIONS, returnee_id)
        if not revisions:
            return []
        items: dict[int, list[PlanItem]] = {}
        for row in await self._conn.fetch(_ITEMS, returnee_id):
            items.setdefault(row["revision"], []).append(_item(row))
        return [_revision(returnee_id, row, items.get(row["revision"], [])) for row in revisions]

    async def plan_of(self, returnee_id: UUID) -> Plan:
        revisions = await self.revisions(returnee_id)
        agreed = [revision for revision in revisions if revision.agreement is not None]
        return Plan(
            latest=revisions[-1] if revisions else None,
            in_force=agreed[-1] if agreed else None,
        )

    async def status_changes(self, returnee_id: UUID) -> list[StatusChange]:
        return [_change(row) for row in await self._conn.fetch(_CHANGES, returnee_id)]

    async def add_revision(self, revision: PlanRevision) -> None:
        await self._conn.execute(
            "INSERT INTO plan_revisions (returnee_id, revision, drafted_at, drafted_by)"
            " VALUES ($1, $2, $3, $4)",
            revision.returnee_id,
            revision.revision,
            revision.drafted_at,
            revision.drafted_by,
        )
        await self._conn.executemany(
            "INSERT INTO plan_items (returnee_id, revision, item_id, position, dimension,"
            " category, provider, partner_id, target_date, status)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            [
                (
                    revision.returnee_id,
                    revision.revision,
                    item.item_id,
                    position,
                    item.dimension,
                    item.category,
                    item.provider,
                    item.partner_id,
                    item.target_date,
                    item.status,
                )
                for position, item in enumerate(revision.items)
            ],
        )

    async def save_agreement(self, revision: PlanRevision) -> None:
        agreement = revision.agreement
        if agreement is None:
            raise ValueError(f"revision {revision.revision} is not agreed")
        await self._conn.execute(
            "UPDATE plan_revisions SET agreed_on = $3, agreed_by = $4, agreed_at = $5"
            " WHERE returnee_id = $1 AND revision = $2",
            revision.returnee_id,
            revision.revision,
            agreement.agreed_on,
            agreement.agreed_by,
            agreement.recorded_at,
        )

    async def save_item_status(self, revisions: Sequence[PlanRevision], item_id: UUID) -> None:
        rows = []
        for revision in revisions:
            item = revision.item(item_id)
            if item is not None:
                rows.append((revision.returnee_id, revision.revision, item_id, item.status))
        await self._conn.executemany(
            "UPDATE plan_items SET status = $4"
            " WHERE returnee_id = $1 AND revision = $2 AND item_id = $3",
            rows,
        )

    async def add_status_changes(self, changes: Sequence[StatusChange]) -> None:
        if not changes:
            return
        await self._conn.executemany(
            "INSERT INTO plan_item_status_changes (returnee_id, item_id, revision, from_status,"
            " to_status, changed_at, changed_by) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            [
                (
                    c.returnee_id,
                    c.item_id,
                    c.revision,
                    c.from_status,
                    c.to_status,
                    c.changed_at,
                    c.changed_by,
                )
                for c in changes
            ],
        )


def _item(row: asyncpg.Record) -> PlanItem:
    return PlanItem(
        item_id=row["item_id"],
        dimension=Dimension(row["dimension"]),
        category=AidCategory(row["category"]),
        provider=Provider(row["provider"]),
        partner_id=row["partner_id"],
        target_date=row["target_date"],
        status=PlanItemStatus(row["status"]),
    )


def _revision(returnee_id: UUID, row: asyncpg.Record, items: list[PlanItem]) -> PlanRevision:
    agreement = (
        None
        if row["agreed_on"] is None
        else Agreement(
            agreed_on=row["agreed_on"], agreed_by=row["agreed_by"], recorded_at=row["agreed_at"]
        )
    )
    return PlanRevision(
        returnee_id=returnee_id,
        revision=row["revision"],
        items=tuple(items),
        drafted_at=row["drafted_at"],
        drafted_by=row["drafted_by"],
        agreement=agreement,
    )


def _change(row: asyncpg.Record) -> StatusChange:
    return StatusChange(
        returnee_id=row["returnee_id"],
        item_id=row["item_id"],
        revision=row["revision"],
        from_status=PlanItemStatus(row["from_status"]),
        to_status=PlanItemStatus(row["to_status"]),
        changed_at=row["changed_at"],
        changed_by=row["changed_by"],
    )
