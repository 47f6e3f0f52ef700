"""How a returnee can be reached, as their registration said."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from retour_contracts import ReturneeRegistered


@dataclass(frozen=True)
class Contact:
    returnee_id: UUID
    reception_centre: str
    language: str
    sms_consent: bool
    phone: str | None
    """E.164; personal data, present only with SMS consent."""
    registered_at: datetime


def contact_of(registration: ReturneeRegistered) -> Contact:
    consented = registration.consents.sms_contact
    return Contact(
        returnee_id=registration.returnee_id,
        reception_centre=registration.reception_centre.value,
        language=registration.preferred_language,
        sms_consent=consented,
        # The contract already refuses a phone without consent; dropping it here as well
        # keeps that promise even if a producer's validation ever slips.
        phone=registration.personal.phone if consented else None,
        registered_at=registration.registered_at,
    )
