"""RegisterReturnee: what a registrar submits. The service assigns ids and timestamps.

One rule for the whole path: whatever this command accepts builds a valid
``returnee.registered`` (its fields are the contract's own types, its checks are the event's
checks taken earlier, plus the bounds a person at a reception desk expects). Anything else is
a 422 naming the field, never an error on the way to the outbox
(tests/test_registration_validation.py checks it with generated commands).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from retour_contracts import (
    Consents,
    MaliRegion,
    PersonalData,
    ReceptionCentre,
    ReturnType,
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
from retour_intake.domain.reviews import OverrideReason

# Arrivals before it are typing errors (a year 147 or 1166 once reached the dashboard).
DEFAULT_PROGRAMME_START = date(2000, 1, 1)

EXAMPLE: dict[str, Any] = {
    "reception_centre": "gao",
    "arrival_date": "2024-03-02",
    "return_type": "vhr",
    "host_country": "DZ",
    "region_of_origin": "gao",
    "sex": "male",
    "household_size": 5,
    "vulnerabilities": ["medical_need"],
    "preferred_language": "fr",
    "consents": {"data_processing": True, "sms_contact": True, "partner_sharing": False},
    "personal": {
        "given_name": "Moussa",
        "family_name": "Maïga",
        "date_of_birth": "1995-08-21",
        "phone": "+22365012345",
        "national_id": None,
    },
    "age_estimate": None,
    "confirm_not_duplicate": False,
}


class InvalidField(ValueError):
    """A rule that needs the service's configuration was broken; ``field`` names the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class PersonalDataEntered(RefusesControlCharacters, PersonalData):
    """The contract's personal block, as typed at a reception desk."""


class RegisterReturnee(RefusesControlCharacters, BaseModel):
    """A registration as entered at a reception centre; unknown fields are refused."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, json_schema_extra={"examples": [EXAMPLE]}
    )

    reception_centre: ReceptionCentre
    arrival_date: date
    return_type: ReturnType
    host_country: CountryCode
    region_of_origin: MaliRegion
    sex: Sex
    household_size: int = Field(ge=1, le=100)
    vulnerabilities: UniqueList[Vulnerability] = Field(default_factory=list)
    preferred_language: LanguageTag = "fr"
    consents: Consents
    personal: PersonalDataEntered
    age_estimate: Annotated[int, Field(ge=0, le=MAX_AGE_YEARS)] | None = Field(
        default=None,
        validate_default=True,
        description="Estimated age in years, when the date of birth is unknown.",
    )
    confirm_not_duplicate: bool = Field(
        default=False,
        description="Registers despite a strong duplicate match: a supervisor's decision, with"
        " override_reason; recorded with who confirmed.",
    )
    override_reason: OverrideReason | None = Field(
        default=None, description="Why the strong match is someone else (confirm_not_duplicate)."
    )
    expected_id: UUID | None = Field(
        default=None,
        description="The expected arrival (GET /expected-arrivals, POST /expected-arrivals/"
        "matches) this person is, confirmed by the registrar: it must still be open, at any"
        " centre (people land elsewhere than announced). Left out, the open expected person"
        " who matches strongly is linked, if any.",
    )

    @field_validator("arrival_date")
    @classmethod
    def _arrival_not_in_future(cls, value: date) -> date:
        # UTC is Mali's civil time all year round.
        if value > datetime.now(UTC).date():
            raise ValueError("arrival_date is in the future")
        return value

    @field_validator("personal")
    @classmethod
    def _personal_consistent(
        cls, value: PersonalDataEntered, info: ValidationInfo
    ) -> PersonalDataEntered:
        consents = info.data.get("consents")
        if value.phone is not None and consents is not None and not consents.sms_contact:
            raise ValueError("a phone number may only be recorded with consents.sms_contact")
        arrival = info.data.get("arrival_date")
        born = value.date_of_birth
        if born and arrival:
            if born > arrival:
                raise ValueError("personal.date_of_birth is after arrival_date")
            if age_on(arrival, born) > MAX_AGE_YEARS:
                raise ValueError(
                    f"personal.date_of_birth gives an age over {MAX_AGE_YEARS} at arrival_date"
                )
        return value

    @field_validator("age_estimate")
    @classmethod
    def _one_age_source(cls, value: int | None, info: ValidationInfo) -> int | None:
        personal = info.data.get("personal")
        if personal is None:
            return value  # personal itself is invalid and reported on its own
        if personal.date_of_birth is None and value is None:
            raise ValueError("give personal.date_of_birth or age_estimate")
        if personal.date_of_birth is not None and value is not None:
            raise ValueError("give personal.date_of_birth or age_estimate, not both")
        return value

    def check_arrival_in_programme(self, programme_start: date) -> None:
        """Raises InvalidField when the arrival is before the programme started."""
        if self.arrival_date < programme_start:
            raise InvalidField(
                "arrival_date", f"is before the programme started ({programme_start.isoformat()})"
            )
