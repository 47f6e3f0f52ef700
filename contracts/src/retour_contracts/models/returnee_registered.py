"""``returnee.registered``: a returnee was registered at a reception centre (intake).

Version 1 carried the personal block in clear; version 2 carries it sealed (``sealing``) under
the returnee's own data key, so erasing that key makes every copy on Kafka unreadable. Both
share the facts everything else is computed from (``RegistrationFacts``).
"""

from datetime import date
from typing import Annotated, Literal
from uuid import UUID

from pydantic import ConfigDict, Field, ValidationInfo, field_validator

from retour_contracts.models.enums import (
    MaliRegion,
    ReceptionCentre,
    ReturnType,
    Sex,
    Vulnerability,
)
from retour_contracts.models.types import (
    PERSONAL_DATA_MARK,
    SEALED_PERSONAL_DATA_MARK,
    ContractModel,
    CountryCode,
    LanguageTag,
    PhoneNumber,
    UniqueList,
    UtcDatetime,
)

Name = Annotated[str, Field(min_length=1, max_length=100)]
MAX_AGE_YEARS = 120


class Consents(ContractModel):
    """Consents recorded at registration. All three are explicit: no consent is assumed."""

    data_processing: Literal[True] = Field(
        description="Consent to process personal data. Registration is impossible without it."
    )
    sms_contact: bool = Field(description="The returnee may be contacted by SMS.")
    partner_sharing: bool = Field(description="Data may be shared with partner organisations.")


class PersonalData(ContractModel):
    """Everything that identifies the person, kept in one object.

    Marked ``x-personal-data`` in the schema so a later version can encrypt or drop it as a unit.
    Reporting never stores it: categories such as sex, age and region live outside.
    """

    model_config = ConfigDict(json_schema_extra={PERSONAL_DATA_MARK: True})

    given_name: Name
    family_name: Name
    other_names: Name | None = None
    date_of_birth: date | None = Field(
        default=None, description="Known date of birth; absent when only an estimate exists."
    )
    phone: PhoneNumber | None = Field(
        default=None, description="Contact phone; only allowed with consents.sms_contact."
    )
    national_id: Annotated[str, Field(min_length=1, max_length=32)] | None = Field(
        default=None, description="National identity number where known, e.g. Mali's NINA."
    )


def age_on(day: date, born: date) -> int:
    """Age in whole years on ``day`` of someone born on ``born``."""
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


class SealedPersonal(ContractModel):
    """The personal block, encrypted: AES-256-GCM under the returnee's data key, with the event
    id (``ce_id``) as associated data, so a sealed block cannot be replayed into another event.

    The plaintext is the JSON of ``PersonalData``. The key never travels on Kafka: services
    entitled to personal data obtain it from intake's key store (``POST /data-keys``).
    """

    model_config = ConfigDict(json_schema_extra={SEALED_PERSONAL_DATA_MARK: True})

    algorithm: Literal["AES-256-GCM"] = "AES-256-GCM"
    nonce: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{16}$")] = Field(
        description="The 96-bit nonce, base64url without padding."
    )
    ciphertext: Annotated[
        str, Field(min_length=22, max_length=4096, pattern=r"^[A-Za-z0-9_-]+$")
    ] = Field(description="Ciphertext and 128-bit tag, base64url without padding.")


class RegistrationFacts(ContractModel):
    """What every version of ``returnee.registered`` says about the registration, apart from
    the personal block: the facts that reports, cases and messages are computed from."""

    # Field order matters: a cross-field check runs on a field once the fields it depends on
    # (defined above it) are validated, so the error names the field that is wrong.

    returnee_id: UUID
    registered_at: UtcDatetime
    reception_centre: ReceptionCentre
    arrival_date: date = Field(description="Day of arrival in Mali; not after registered_at.")
    return_type: ReturnType
    host_country: CountryCode = Field(description="Host or transit country the person left.")
    region_of_origin: MaliRegion
    sex: Sex
    age_years: int = Field(
        ge=0,
        le=MAX_AGE_YEARS,
        description=(
            "Age at arrival, derived by intake from the date of birth or an estimate. Outside the"
            " personal object so reports can build age groups without a date of birth."
        ),
    )
    age_is_estimated: bool
    household_size: int = Field(ge=1, description="People in the household, returnee included.")
    vulnerabilities: UniqueList[Vulnerability] = Field(default_factory=list)
    preferred_language: LanguageTag = "fr"
    consents: Consents
    possible_duplicate_of: UniqueList[UUID] = Field(
        default_factory=list,
        description="Earlier registrations that duplicate detection matched (same person?).",
    )
    duplicate_confirmed_by: Annotated[str, Field(min_length=1, max_length=100)] | None = Field(
        default=None,
        description="Staff member who reviewed the possible duplicates and confirmed this record.",
    )
    expected_id: UUID | None = Field(
        default=None,
        description="The expected arrival (returnee.expected) this registration confirmed.",
    )

    @field_validator("arrival_date")
    @classmethod
    def _arrival_not_after_registration(cls, value: date, info: ValidationInfo) -> date:
        registered_at = info.data.get("registered_at")
        # Compared in UTC, which is also Mali's civil time all year round.
        if registered_at is not None and value > registered_at.date():
            raise ValueError("arrival_date is after registered_at (arrival in the future)")
        return value

    @field_validator("possible_duplicate_of")
    @classmethod
    def _not_own_duplicate(cls, value: list[UUID], info: ValidationInfo) -> list[UUID]:
        if info.data.get("returnee_id") in value:
            raise ValueError("possible_duplicate_of contains the returnee's own id")
        return value


class ReturneeRegistered(RegistrationFacts):
    """A returnee was registered at a reception centre."""

    # Version 1: the personal block in clear. Still read from the records already on the topic
    # (and intake's own domain uses it); intake publishes version 2. The docstring is the
    # committed schema's description, left as it was.

    personal: PersonalData = Field(json_schema_extra={PERSONAL_DATA_MARK: True})

    @field_validator("personal")
    @classmethod
    def _personal_consistent(cls, value: PersonalData, info: ValidationInfo) -> PersonalData:
        consents = info.data.get("consents")
        if value.phone is not None and consents is not None and not consents.sms_contact:
            raise ValueError("personal.phone requires consents.sms_contact to be true")
        arrival = info.data.get("arrival_date")
        age = info.data.get("age_years")
        born = value.date_of_birth
        if born is not None and arrival is not None:
            if born > arrival:
                raise ValueError("personal.date_of_birth is after arrival_date")
            if age is not None and age_on(arrival, born) != age:
                raise ValueError(
                    f"age_years {age} does not match personal.date_of_birth at arrival_date"
                )
        return value


class ReturneeRegisteredV2(RegistrationFacts):
    """A returnee was registered at a reception centre (version 2: the personal block sealed).

    ``personal.phone`` requires ``consents.sms_contact`` and the date of birth must match the
    age: the producer checks both before sealing, and ``sealing.open_registration`` again after
    opening.
    """

    sealed_personal: SealedPersonal = Field(
        json_schema_extra={SEALED_PERSONAL_DATA_MARK: True},
        description="PersonalData, encrypted under the returnee's data key.",
    )
