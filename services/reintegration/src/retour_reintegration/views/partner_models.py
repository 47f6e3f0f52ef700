"""Response bodies of the partner registry."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from retour_contracts import AidCategory, Dimension, MaliRegion, ReceptionCentre
from retour_reintegration.views import examples as ex
from retour_reintegration.views.examples import examples


class ContactView(BaseModel):
    """Whom staff contact at the partner (an organisation's contact, for staff only)."""

    model_config = ConfigDict(json_schema_extra=examples(ex.contact))

    name: str
    phone: str | None
    email: str | None


class PartnerView(BaseModel):
    model_config = ConfigDict(json_schema_extra=examples(ex.partner, ex.deactivated_partner))

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
    model_config = ConfigDict(json_schema_extra=examples(ex.partner_list))

    items: list[PartnerView]
