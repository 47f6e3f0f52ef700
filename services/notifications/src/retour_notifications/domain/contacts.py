"""How a returnee can be reached: as their registration said, then as corrections changed it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from uuid import UUID

from retour_contracts import ReturneeRegistered
from retour_notifications.domain.corrections import (
    REGISTRATION_VERSION,
    Corrections,
    Versioned,
)


@dataclass(frozen=True)
class Contact:
    returnee_id: UUID
    reception_centre: str
    language: str
    sms_consent: bool
    phone: str | None
    """E.164; personal data, present only with SMS consent."""
    registered_at: datetime
    language_version: int = REGISTRATION_VERSION
    centre_version: int = REGISTRATION_VERSION
    phone_version: int = REGISTRATION_VERSION
    """The registration's version that set each field (domain/corrections.py)."""
    phone_set_at: datetime | None = None
    """When the phone of ``phone_version`` was set (kept or dropped since): the correction's
    ``updated_at``; None: by the registration, at ``registered_at``."""

    @property
    def phone_since(self) -> datetime:
        return self.registered_at if self.phone_set_at is None else self.phone_set_at

    def corrected(self, corrections: Corrections, *, withdrawn_at: datetime | None) -> Contact:
        """Each field a newer version corrected takes its new value; an older or equal one
        (a redelivery, an update read late) changes nothing. A new phone is kept only while
        the SMS consent stands and was not withdrawn after the phone was set (the latest
        withdrawal known is ``withdrawn_at``; giving consent back brings no phone back):
        otherwise it is dropped, though its version is kept, so an older phone read later
        cannot come back either."""
        contact = self
        language, centre, phone = (
            corrections.language,
            corrections.reception_centre,
            corrections.phone,
        )
        if language is not None and language.version > contact.language_version:
            contact = replace(contact, language=language.value, language_version=language.version)
        if centre is not None and centre.version > contact.centre_version:
            contact = replace(contact, reception_centre=centre.value, centre_version=centre.version)
        if phone is not None and phone.version > contact.phone_version:
            allowed = contact.sms_consent and not withdrawn_after(withdrawn_at, phone.at)
            contact = replace(
                contact,
                phone=phone.value if allowed else None,
                phone_version=phone.version,
                phone_set_at=phone.at,
            )
        return contact

    def corrections(self) -> Corrections:
        """The corrections this contact already carries: its fields set after registration."""
        first = REGISTRATION_VERSION
        language, centre, phone = self.language_version, self.centre_version, self.phone_version
        return Corrections(
            self.returnee_id,
            language=Versioned(self.language, language) if language > first else None,
            reception_centre=Versioned(self.reception_centre, centre) if centre > first else None,
            phone=Versioned(self.phone, phone, self.phone_set_at) if phone > first else None,
        )


def withdrawn_after(withdrawn_at: datetime | None, set_at: datetime | None) -> bool:
    """SMS consent was withdrawn (latest at ``withdrawn_at``) after a phone was set at
    ``set_at``: that phone is not kept, even if consent was given back since, for intake
    deleted it at the withdrawal and a give-back brings no number. A phone set at an unknown
    time (None) is taken as older than any withdrawal."""
    return withdrawn_at is not None and (set_at is None or withdrawn_at > set_at)


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
    """What erasures, consent changes and merges already decided for some returnees."""

    forgotten: frozenset[UUID] = frozenset()
    sms_changes: Mapping[UUID, tuple[bool, datetime]] = field(default_factory=dict)
    """returnee -> (SMS consent, since when): the latest change."""
    sms_withdrawals: Mapping[UUID, datetime] = field(default_factory=dict)
    """returnee -> the latest SMS consent withdrawal, even one a give-back followed: a phone
    set before it is not kept (``withdrawn_at``)."""
    merged: Mapping[UUID, UUID] = field(default_factory=dict)
    """registration -> the registration the person keeps (domain/merges.py), chains followed.
    ``forgotten`` covers those too, so an erasure under either registration is known."""

    def contacted_as(self, returnee_id: UUID) -> UUID | None:
        """The registration through which the person of ``returnee_id`` is contacted: itself,
        or the one it was merged into; None when the person was erased under either."""
        kept = self.merged.get(returnee_id, returnee_id)
        if returnee_id in self.forgotten or kept in self.forgotten:
            return None
        return kept

    def applied_to(self, contact: Contact) -> Contact | None:
        """The contact a registration gives, once what was decided after it is applied;
        None for a forgotten person, who is never contacted again."""
        if contact.returnee_id in self.forgotten:
            return None
        change = self.sms_changes.get(contact.returnee_id)
        if change is not None and change[1] > contact.registered_at:
            # The latest change decides the consent, as it does for a contact already
            # recorded (pg_protection.py).
            contact = replace(contact, sms_consent=change[0])
        # A phone goes without consent, and with a withdrawal made after it was set, even if
        # consent was given back since: a give-back brings no number (intake deleted it).
        withdrawn = self.withdrawn_at(contact.returnee_id)
        if contact.phone is not None and (
            not contact.sms_consent or withdrawn_after(withdrawn, contact.phone_since)
        ):
            contact = replace(contact, phone=None)
        return contact

    def withdrawn_at(self, returnee_id: UUID) -> datetime | None:
        """The latest SMS consent withdrawal known for the returnee, if any."""
        latest = self.sms_withdrawals.get(returnee_id)
        change = self.sms_changes.get(returnee_id)
        if change is not None and not change[0] and (latest is None or change[1] > latest):
            return change[1]  # the latest change is itself a withdrawal
        return latest

    def waiting_phone(self, corrections: Corrections) -> Corrections:
        """Corrections as they may wait for the registration: a phone is dropped (its version
        kept) if the latest SMS consent change is a withdrawal, or if a withdrawal came after
        it was set; it would be dropped when the registration comes anyway."""
        change = self.sms_changes.get(corrections.returnee_id)
        phone = corrections.phone
        if phone is None or phone.value is None:
            return corrections
        withdrawn_now = change is not None and not change[0]
        if withdrawn_now or withdrawn_after(self.withdrawn_at(corrections.returnee_id), phone.at):
            return corrections.without_phone()
        return corrections


def registered_contact(
    registration: ReturneeRegistered,
    *,
    before: Contact | None,
    waiting: Corrections | None,
    refusals: Refusals,
) -> Contact | None:
    """The contact a registration gives once everything known since is applied: what
    erasures and consent changes decided, then the corrections already applied to an
    earlier reading of it (a replay must not undo them: ``before``) and those read before
    it (``waiting``). Consent first, so a corrected phone is kept only if consent stands now
    and was not withdrawn after the phone was set (whether given back since or not).
    A merged registration keeps no phone. None: the person was erased and is never contacted
    again."""
    contact = refusals.applied_to(contact_of(registration))
    if contact is None:
        return None
    withdrawn_at = refusals.withdrawn_at(contact.returnee_id)
    if before is not None:
        contact = contact.corrected(before.corrections(), withdrawn_at=withdrawn_at)
    if waiting is not None:
        contact = contact.corrected(waiting, withdrawn_at=withdrawn_at)
    if contact.returnee_id in refusals.merged:
        # Merged into another registration: the person is contacted through that one only,
        # so this one keeps no number (corrected or not) to be reached at.
        contact = replace(contact, phone=None)
    return contact
