"""A reintegration case: opened when a returnee is registered, closed by a case worker."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time
from enum import StrEnum
from uuid import UUID

from retour_contracts import MaliRegion, ReceptionCentre, RegistrationFacts
from retour_reintegration.domain.errors import CaseClosed


class CaseStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class ClosureReason(StrEnum):
    """Why a case was closed; a fixed list so reports can count them."""

    REINTEGRATION_COMPLETED = "reintegration_completed"
    RETURNEE_DECLINED = "returnee_declined"  # declined further assistance
    RETURNEE_UNREACHABLE = "returnee_unreachable"  # lost contact during follow-up
    REMIGRATED = "remigrated"
    RELOCATED = "relocated"  # moved out of the areas the programme covers
    INELIGIBLE = "ineligible"  # found ineligible on re-checking eligibility
    DUPLICATE_REGISTRATION = "duplicate_registration"
    DECEASED = "deceased"


@dataclass(frozen=True)
class Case:
    returnee_id: UUID
    reception_centre: ReceptionCentre
    region_of_origin: MaliRegion
    arrival_date: date
    registered_at: datetime
    status: CaseStatus = CaseStatus.OPEN
    closure_reason: ClosureReason | None = None
    closed_at: datetime | None = None
    closed_by: str | None = None

    @classmethod
    def open_for(cls, registration: RegistrationFacts) -> Case:
        # Deliberately not copied: names, date of birth, phone, national id, consents.
        return cls(
            returnee_id=registration.returnee_id,
            reception_centre=registration.reception_centre,
            region_of_origin=registration.region_of_origin,
            arrival_date=registration.arrival_date,
            registered_at=registration.registered_at,
        )

    @property
    def arrived_at(self) -> datetime:
        """Arrival is known to the day; its start (UTC, which is Mali's time) is used, so the
        72-hour flag never misses a late grant."""
        return datetime.combine(self.arrival_date, time.min, tzinfo=UTC)

    @property
    def is_open(self) -> bool:
        return self.status is CaseStatus.OPEN

    def check_is_open(self) -> None:
        if not self.is_open:
            raise CaseClosed([self.returnee_id])

    def close(self, reason: ClosureReason, *, at: datetime, by: str) -> Case:
        self.check_is_open()
        return replace(
            self, status=CaseStatus.CLOSED, closure_reason=reason, closed_at=at, closed_by=by
        )
