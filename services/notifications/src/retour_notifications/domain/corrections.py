"""What a ``returnee.updated`` changes of how notifications reaches a person.

Three fields matter here: the preferred language, the reception centre (whose team is told)
and the phone. Each is kept with the version of the registration that set it (the registration
itself is version 1, each change adds one), so a correction applies only over an older version:
a redelivered update, or one read after a later one, changes nothing, whichever topic was read
first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar
from uuid import UUID

from retour_contracts import PersonalData, RegistrationField, ReturneeUpdated

REGISTRATION_VERSION = 1
"""The version a registration starts at: every field of a contact is at least this."""

T = TypeVar("T")


@dataclass(frozen=True)
class Versioned(Generic[T]):
    value: T
    version: int
    at: datetime | None = None
    """When this version was made (the update's ``updated_at``). Kept for the phone only: a
    phone set before an SMS consent withdrawal is not kept (domain/contacts.py). None: not
    known (a phone kept before this was recorded), taken as older than any withdrawal."""


@dataclass(frozen=True)
class OpenedUpdate:
    """A ``returnee.updated`` as the use cases receive it (usecases/unseal.py): its sealed
    personal block opened when notifications needs it, that is when the phone changed."""

    event: ReturneeUpdated
    personal: PersonalData | None
    """Personal data; None when the phone did not change (the block is then left sealed)."""


def needs_personal_block(update: ReturneeUpdated) -> bool:
    """Only a new phone is worth opening the block for: names and identity numbers are
    never used here, so their corrections are not even read (nor their key asked for)."""
    return RegistrationField.PHONE in update.changed


@dataclass(frozen=True)
class Corrections:
    """The latest correction of each field, for one returnee; None: that field was not
    corrected (as far as these corrections go)."""

    returnee_id: UUID
    language: Versioned[str] | None = None
    reception_centre: Versioned[str] | None = None
    phone: Versioned[str | None] | None = None
    """Personal data. A value of None: the phone was removed."""

    def then(self, later: Corrections) -> Corrections:
        """These corrections and ``later`` ones together: per field, the higher version wins,
        so the order in which they are combined does not matter."""
        return Corrections(
            self.returnee_id,
            language=_newer(self.language, later.language),
            reception_centre=_newer(self.reception_centre, later.reception_centre),
            phone=_newer(self.phone, later.phone),
        )

    def without_phone(self) -> Corrections:
        """The same, a new phone dropped but its version kept: an older phone read later
        must not come back either."""
        if self.phone is None or self.phone.value is None:
            return self
        return Corrections(
            self.returnee_id,
            language=self.language,
            reception_centre=self.reception_centre,
            phone=Versioned(None, self.phone.version, self.phone.at),
        )

    @property
    def fields(self) -> list[str]:
        """The names of the fields corrected (for logs: names, never values)."""
        named = {
            "language": self.language,
            "reception_centre": self.reception_centre,
            "phone": self.phone,
        }
        return [name for name, value in named.items() if value is not None]


def corrections_of(opened: OpenedUpdate) -> Corrections:
    """What an update changes of the fields notifications uses (possibly nothing)."""
    event, version = opened.event, opened.event.version
    language = event.facts.preferred_language
    centre = event.facts.reception_centre
    # unseal.py opens the block exactly when the phone changed.
    personal = opened.personal if needs_personal_block(event) else None
    return Corrections(
        event.returnee_id,
        language=None if language is None else Versioned(language, version),
        reception_centre=None if centre is None else Versioned(centre.value, version),
        phone=None if personal is None else Versioned(personal.phone, version, event.updated_at),
    )


def _newer(first: Versioned[T] | None, second: Versioned[T] | None) -> Versioned[T] | None:
    if first is None:
        return second
    if second is None or second.version <= first.version:
        return first
    return second
