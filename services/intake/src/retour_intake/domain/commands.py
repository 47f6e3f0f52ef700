"""RegisterReturnee: what a registrar submits. The service assigns ids and timestamps."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

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
from retour_contracts.models.types import CountryCode, LanguageTag, UniqueList

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


class RegisterReturnee(BaseModel):
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
    personal: PersonalData
    age_estimate: Annotated[int, Field(ge=0, le=120)] | None = Field(
        default=None,
        validate_default=True,
        description="Estimated age in years, when the date of birth is unknown.",
    )
    confirm_not_duplicate: bool = Field(
        default=False,
        description="Registers despite a strong duplicate match; recorded with who confirmed.",
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
    def _personal_consistent(cls, value: PersonalData, info: ValidationInfo) -> PersonalData:
        consents = info.data.get("consents")
        if value.phone is not None and consents is not None and not consents.sms_contact:
            raise ValueError("a phone number may only be recorded with consents.sms_contact")
        arrival = info.data.get("arrival_date")
        if value.date_of_birth and arrival and value.date_of_birth > arrival:
            raise ValueError("personal.date_of_birth is after arrival_date")
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
