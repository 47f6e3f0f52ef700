"""Corrections and transfers: what staff may change in a registration, and what changed.

A correction is a JSON merge patch (RFC 7396) on the registration as a registrar entered it
(``RegisterReturnee``), so the corrected registration passes exactly the checks a new one
does: whatever a correction accepts is a registration intake would have accepted at the desk.
Consents have their own route (and event); the duplicate flags their own review.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from retour_contracts import (
    ChangeReason,
    FactChanges,
    MaliRegion,
    ReceptionCentre,
    RegistrationField,
    ReturneeRegistered,
    ReturneeUpdated,
    ReturnType,
    SealedPersonal,
    Sex,
    Vulnerability,
)
from retour_contracts.models.returnee_registered import MAX_AGE_YEARS, age_on
from retour_contracts.models.types import (
    CountryCode,
    LanguageTag,
    RefusesControlCharacters,
    UniqueList,
)
from retour_intake.domain.commands import RegisterReturnee

Name = Annotated[str, Field(min_length=1, max_length=100)]

EXAMPLE: dict[str, Any] = {
    "reason": "new_information",
    "preferred_language": "bm",
    "personal": {"phone": "+22376012345"},
}


class PersonalPatch(RefusesControlCharacters, BaseModel):
    """Changes to the personal block: a field set to null is removed (where it may be)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    given_name: Name | None = None
    family_name: Name | None = None
    other_names: Name | None = None
    date_of_birth: date | None = None
    phone: str | None = None
    national_id: Annotated[str, Field(min_length=1, max_length=32)] | None = None


class CorrectRegistration(RefusesControlCharacters, BaseModel):
    """A JSON merge patch on the registration, and why. A change of ``reception_centre`` is a
    transfer: the case and the counts move with the person."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, json_schema_extra={"examples": [EXAMPLE]}
    )

    reason: ChangeReason = Field(
        description="Why (a code: it travels on Kafka, where free text could hold personal data)."
    )
    reception_centre: ReceptionCentre | None = None
    arrival_date: date | None = None
    return_type: ReturnType | None = None
    host_country: CountryCode | None = None
    region_of_origin: MaliRegion | None = None
    sex: Sex | None = None
    household_size: int | None = None
    vulnerabilities: UniqueList[Vulnerability] | None = None
    preferred_language: LanguageTag | None = None
    age_estimate: Annotated[int, Field(ge=0, le=MAX_AGE_YEARS)] | None = Field(
        default=None, description="A new estimated age; the date of birth then goes."
    )
    personal: PersonalPatch | None = None

    def patch(self) -> dict[str, Any]:
        """The merge patch as sent: a field left out is absent, a field sent as null is None."""
        return self.model_dump(mode="json", exclude_unset=True, exclude={"reason"})


@dataclass(frozen=True)
class Revision:
    """The registration after a correction, and the fields that changed (none: a no-op)."""

    registration: ReturneeRegistered
    changed: tuple[RegistrationField, ...]

    @property
    def identity_changed(self) -> bool:
        return bool(set(self.changed) & _IDENTITY)


def as_entered(registration: ReturneeRegistered) -> dict[str, Any]:
    """The registration as the command that would register it today."""
    data = registration.model_dump(mode="json", include=_ENTERED)
    data["age_estimate"] = registration.age_years if registration.age_is_estimated else None
    return data


def merged(current: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """RFC 7396 on the entered registration, knowing that the date of birth and the age
    estimate exclude each other: setting one drops the other unless the patch names both."""
    result = _merge(current, patch)
    personal_patch = patch.get("personal") or {}
    if personal_patch.get("date_of_birth") is not None and "age_estimate" not in patch:
        result.pop("age_estimate", None)
    if patch.get("age_estimate") is not None and "date_of_birth" not in personal_patch:
        result.get("personal", {}).pop("date_of_birth", None)
    return result


def _merge(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    result = dict(target)
    for name, value in patch.items():
        if value is None:
            result.pop(name, None)
        elif isinstance(value, dict) and isinstance(result.get(name), dict):
            result[name] = _merge(result[name], value)
        else:
            result[name] = value
    return result


def revise(current: ReturneeRegistered, command: RegisterReturnee) -> Revision:
    """The registration ``command`` describes, keeping what no correction changes (id, time of
    registration, consents, the duplicate flags), and what changed from ``current``."""
    born = command.personal.date_of_birth
    if born is not None:
        age, estimated = age_on(command.arrival_date, born), False
    else:
        assert command.age_estimate is not None  # RegisterReturnee's validation
        age, estimated = command.age_estimate, True
    data = current.model_dump(mode="python")
    data.update(
        {name: getattr(command, name) for name in _FACTS if name not in _DERIVED_AGE},
        age_years=age,
        age_is_estimated=estimated,
        personal=dict(command.personal),
    )
    revised = ReturneeRegistered.model_validate(data)
    changed = tuple(
        field for field in RegistrationField if _value(revised, field) != _value(current, field)
    )
    return Revision(revised, changed)


def updated_event(
    revision: Revision,
    *,
    version: int,
    at: datetime,
    by: str,
    reason: ChangeReason,
    sealed_personal: SealedPersonal | None,
) -> ReturneeUpdated:
    """``returnee.updated`` for a revision that changed something; the personal block after
    the change comes sealed (``sealed_personal``) when a personal field changed."""
    new = revision.registration
    facts = {f.value: getattr(new, f.value) for f in revision.changed if not f.is_personal}
    return ReturneeUpdated(
        returnee_id=new.returnee_id,
        version=version,
        updated_at=at,
        updated_by=by,
        reason=reason,
        changed=list(revision.changed),
        facts=FactChanges(**facts),
        sealed_personal=sealed_personal,
    )


def personal_changed(changed: tuple[RegistrationField, ...]) -> bool:
    return any(field.is_personal for field in changed)


def _value(registration: ReturneeRegistered, field: RegistrationField) -> Any:
    if field.is_personal:
        return getattr(registration.personal, field.value.removeprefix("personal."))
    return getattr(registration, field.value)


_FACTS = tuple(field.value for field in RegistrationField if not field.is_personal)
_DERIVED_AGE = {"age_years", "age_is_estimated"}
_ENTERED = set(RegisterReturnee.model_fields) - {
    "age_estimate",
    "confirm_not_duplicate",
    "override_reason",
    "expected_id",  # the link made at registration: no correction changes it
}
_IDENTITY = {
    RegistrationField.GIVEN_NAME,
    RegistrationField.FAMILY_NAME,
    RegistrationField.DATE_OF_BIRTH,
    RegistrationField.PHONE,
    RegistrationField.NATIONAL_ID,
    # The estimated age enters duplicate detection as a birth year.
    RegistrationField.AGE_YEARS,
    RegistrationField.ARRIVAL_DATE,
}
"""Fields duplicate detection compares: changing one can make the person someone else's double."""
