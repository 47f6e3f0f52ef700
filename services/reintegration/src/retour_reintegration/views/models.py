"""Response bodies. Aid and activities reuse the event contracts, so an API client and a
Kafka consumer see the same fields under the same names."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, PlainSerializer

from retour_contracts import ActivityLaunched, AidGranted, MaliRegion, ReceptionCentre
from retour_reintegration.domain.case import CaseStatus, ClosureReason

# A string, like Money.amount, so no client reads money as a binary float.
PlainAmount = Annotated[
    Decimal, PlainSerializer(lambda d: format(d.normalize(), "f"), return_type=str)
]


class AidView(AidGranted):
    exceeded_budget: bool


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


class CaseDetails(CaseSummary):
    budget: Budget
    aid: list[AidView]
    activities: list[ActivityView]


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
