"""How a returnee can be reached, as their registration said."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
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


@dataclass(frozen=True)
class Refusals:
    """What erasures and consent changes already decided for some returnees."""

    forgotten: frozenset[UUID] = frozenset()
    sms_changes: Mapping[UUID, tuple[bool, datetime]] = field(default_factory=dict)
    """returnee -> (SMS consent, since when): the latest change."""

    def applied_to(self, contact: Contact) -> Contact | None:
        """The contact a registration gives, once what was decided after it is applied;
        None for a forgotten person, who is never contacted again."""
        if contact.returnee_id in self.forgotten:
            return None
        change = self.sms_changes.get(contact.returnee_id)
        if change is None or change[1] <= contact.registered_at:
            return contact
        consented = change[0] and contact.sms_consent  # consent given later brings no number
        return replace(contact, sms_consent=consented, phone=contact.phone if consented else None)
