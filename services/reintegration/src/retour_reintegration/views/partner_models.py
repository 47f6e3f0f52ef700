"""Response bodies of the partner registry."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel

from retour_contracts import AidCategory, Dimension, MaliRegion, ReceptionCentre


class ContactView(BaseModel):
    """Whom staff contact at the partner (an organisation's contact, for staff only)."""

    name: str
    phone: str | None
    email: str | None


class PartnerView(BaseModel):
    partner_id: UUID
    name: str
    centres: list[ReceptionCentre]
    regions: list[MaliRegion]
    services: list[AidCategory]
    dimensions: list[Dimension]
    """The dimensions its services belong to."""
    served_centres: list[ReceptionCentre]
    """The reception centres it serves: those named, and those in a region named."""
    contact: ContactView | None
    active: bool
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str


class PartnerList(BaseModel):
    items: list[PartnerView]
