"""The partner registry on the service's Postgres schema: the repository the use cases write
through, and the reads of the API."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

import asyncpg

from retour_contracts import AidCategory, MaliRegion, ReceptionCentre
from retour_kit.db import Connection
from retour_reintegration.domain.partner import REGION_OF_CENTRE, Partner, PartnerContact
from retour_reintegration.views.partner_models import ContactView, PartnerView

_COLUMNS = """
partner_id, name, centres, regions, services, contact_name, contact_phone, contact_email,
active, created_at, created_by, updated_at, updated_by
"""
_INSERT = """
INSERT INTO partners (partner_id, name, centres, regions, services, contact_name, contact_phone,
                      contact_email, active, created_at, created_by, updated_at, updated_by)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $10, $11)
"""
_UPDATE = """
UPDATE partners SET name = $2, centres = $3, regions = $4, services = $5, contact_name = $6,
                    contact_phone = $7, contact_email = $8, active = $9, updated_at = $10,
                    updated_by = $11
WHERE partner_id = $1
"""
# A partner serves a centre it names, or one standing in a region it names.
_LIST = f"""
SELECT {_COLUMNS} FROM partners
WHERE ($1::text IS NULL OR $1 = ANY(centres) OR $2 = ANY(regions))
  AND ($3::text IS NULL OR $3 = ANY(services))
  AND ($4::boolean IS NULL OR active = $4)
ORDER BY name, partner_id
"""  # noqa: S608 (constant fragments only; every value is a parameter)


class PgPartners:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def add(self, partner: Partner, *, at: datetime, by: str) -> None:
        await self._conn.execute(_INSERT, *_values(partner), at, by)

    async def save(self, partner: Partner, *, at: datetime, by: str) -> None:
        await self._conn.execute(_UPDATE, *_values(partner), at, by)

    async def lock(self, partner_id: UUID) -> Partner | None:
        row = await self._conn.fetchrow(
            f"SELECT {_COLUMNS} FROM partners WHERE partner_id = $1 FOR UPDATE",  # noqa: S608
            partner_id,
        )
        return None if row is None else _partner(row)

    async def many(self, partner_ids: Sequence[UUID]) -> dict[UUID, Partner]:
        if not partner_ids:
            return {}
        rows = await self._conn.fetch(
            f"SELECT {_COLUMNS} FROM partners WHERE partner_id = ANY($1::uuid[])",  # noqa: S608
            list(partner_ids),
        )
        return {row["partner_id"]: _partner(row) for row in rows}

    async def view(self, partner_id: UUID) -> PartnerView | None:
        row = await self._conn.fetchrow(
            f"SELECT {_COLUMNS} FROM partners WHERE partner_id = $1",  # noqa: S608
            partner_id,
        )
        return None if row is None else _view(row)

    async def listing(
        self,
        *,
        centre: ReceptionCentre | None,
        service: AidCategory | None,
        active: bool | None,
    ) -> list[PartnerView]:
        region = None if centre is None else REGION_OF_CENTRE[centre]
        rows = await self._conn.fetch(_LIST, centre, region, service, active)
        return [_view(row) for row in rows]


def _values(partner: Partner) -> tuple[object, ...]:
    contact = partner.contact
    return (
        partner.partner_id,
        partner.name,
        sorted(partner.centres),
        sorted(partner.regions),
        sorted(partner.services),
        None if contact is None else contact.name,
        None if contact is None else contact.phone,
        None if contact is None else contact.email,
        partner.active,
    )


def _partner(row: asyncpg.Record) -> Partner:
    name = row["contact_name"]
    return Partner(
        partner_id=row["partner_id"],
        name=row["name"],
        centres=frozenset(ReceptionCentre(c) for c in row["centres"]),
        regions=frozenset(MaliRegion(r) for r in row["regions"]),
        services=frozenset(AidCategory(s) for s in row["services"]),
        contact=None
        if name is None
        else PartnerContact(name=name, phone=row["contact_phone"], email=row["contact_email"]),
        active=row["active"],
    )


def _view(row: asyncpg.Record) -> PartnerView:
    partner = _partner(row)
    contact = partner.contact
    return PartnerView(
        partner_id=partner.partner_id,
        name=partner.name,
        centres=sorted(partner.centres),
        regions=sorted(partner.regions),
        services=sorted(partner.services),
        dimensions=sorted(partner.dimensions),
        served_centres=sorted(partner.served_centres),
        contact=None if contact is None else ContactView(**vars(contact)),
        active=partner.active,
        created_at=row["created_at"],
        created_by=row["created_by"],
        updated_at=row["updated_at"],
        updated_by=row["updated_by"],
    )
