"""Response bodies. Aid and activities reuse the event contracts, so an API client and a
Kafka consumer see the same fields under the same names."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, PlainSerializer

from retour_contracts import (
    ActivityLaunched,
    AidGranted,
    ChangeReason,
    MaliRegion,
    ReceptionCentre,
)
from retour_reintegration.domain.case import CaseStatus, ClosureReason

# A string, like Money.amount, so no client reads money as a binary float.
PlainAmount = Annotated[
    Decimal, PlainSerializer(lambda d: format(d.normalize(), "f"), return_type=str)
]


class AidView(AidGranted):
    exceeded_budget: bool
    merged_from: UUID | None = None
    """On the person's case, aid granted under a duplicate registration later merged into it:
    that registration (``returnee_id`` is the case's, the person's). The aid.granted event
    keeps the registration it was granted under."""


class ActivityView(ActivityLaunched):
    launched_by: str


class Budget(BaseModel):
    """The returnee's reintegration budget (cash and business start-up grants)."""

    currency: str
    limit: PlainAmount
    granted: PlainAmount
    remaining: PlainAmount


class CaseSummary(BaseModel):
    returnee_id: UUID
    reception_centre: ReceptionCentre
    region_of_origin: MaliRegion
    arrival_date: date
    registered_at: datetime
    status: CaseStatus
    opened_at: datetime
    closed_at: datetime | None
    closure_reason: ClosureReason | None
    closed_by: str | None
    merged_into: UUID | None = None
    """Set when this registration was found to be a duplicate and merged into the person's:
    the case that serves the person and holds this one's aid and activities (the case is then
    closed, as ``duplicate_registration`` unless a case worker had closed it already)."""


class TransferView(BaseModel):
    """The case moved with the person from one reception centre to another (returnee.updated
    of that registration ``version``)."""

    version: int
    transferred_at: datetime
    transferred_by: str
    reason: ChangeReason
    from_centre: ReceptionCentre
    to_centre: ReceptionCentre


class CaseDetails(CaseSummary):
    budget: Budget
    aid: list[AidView]
    activities: list[ActivityView]
    transfers: list[TransferView]
    """Oldest first; the last one's ``to_centre`` is the case's ``reception_centre``."""


class CasePage(BaseModel):
    items: list[CaseSummary]
    next_cursor: str | None


class FieldError(BaseModel):
    field: str
    message: str
    type: str


class ErrorBody(BaseModel):
    """Every 4xx: ``error`` names the rule or the problem; ``detail`` explains it, or, for a
    ``validation_error``, ``errors`` lists the fields at fault. Rules add the ids or amounts
    involved (``returnee_ids``, ``aid_ids``, ``remaining_budget``)."""

    model_config = ConfigDict(extra="allow")

    error: str
    detail: str | None = None
    errors: list[FieldError] | None = None
