"""Expected arrivals (intake): ``returnee.expected`` when a manifest announces a person before a
wave lands, ``expected_arrival.closed`` when an expected person who never registered is closed.

A manifest comes from the host-country mission, an embassy or a partner system, days before the
people arrive. Each person on it is one ``returnee.expected``, keyed by ``expected_id``; the
registration that confirms them carries that id (``returnee.registered``'s ``expected_id``).
What identifies the person travels sealed, exactly like ``returnee.registered`` version 2's
personal block, under the expected person's own data key: closing or erasing the expectation
destroys that key.
"""

from datetime import date
from enum import StrEnum
from typing import Annotated
from uuid import UUID

from pydantic import ConfigDict, Field

from retour_contracts.models.enums import ReceptionCentre, Sex, Vulnerability
from retour_contracts.models.returnee_registered import MAX_AGE_YEARS, Name, SealedPersonal
from retour_contracts.models.types import (
    PERSONAL_DATA_MARK,
    SEALED_PERSONAL_DATA_MARK,
    ContractModel,
    CountryCode,
    PhoneNumber,
    UniqueList,
    UtcDatetime,
)

MAX_WAVE_SIZE = 5000
DocumentNumber = Annotated[str, Field(min_length=1, max_length=32)]
StaffOrSystem = Annotated[str, Field(min_length=1, max_length=100)]


class ExpectedPersonal(ContractModel):
    """What the sender knows that identifies the person; only the family name is required
    (a manifest without names cannot be matched to anyone at the door)."""

    model_config = ConfigDict(json_schema_extra={PERSONAL_DATA_MARK: True})

    given_name: Name | None = None
    family_name: Name
    other_names: Name | None = None
    date_of_birth: date | None = None
    phone: PhoneNumber | None = None
    national_id: DocumentNumber | None = Field(
        default=None, description="National identity number where known, e.g. Mali's NINA."
    )
    passport_number: DocumentNumber | None = None


class ReturneeExpected(ContractModel):
    """A person announced by a manifest, before they arrive at a reception centre.

    ``wave_size`` is the number of people on the manifest, so a consumer knows when it has
    read the whole wave (one event per person, spread over partitions by ``expected_id``).
    """

    expected_id: UUID
    wave_id: UUID
    wave_name: Annotated[str, Field(min_length=1, max_length=120)] = Field(
        description="The wave as the sender names it, e.g. 'Port-Bouët evacuation, flight 2'."
    )
    wave_size: int = Field(ge=1, le=MAX_WAVE_SIZE)
    reception_centre: ReceptionCentre
    expected_date: date
    host_country: CountryCode | None = Field(
        default=None, description="Country the wave leaves, when the manifest says."
    )
    announced_at: UtcDatetime
    announced_by: StaffOrSystem = Field(
        description="The supervisor or partner system that sent the manifest (token subject)."
    )
    sex: Sex | None = None
    age_years: int | None = Field(
        default=None,
        ge=0,
        le=MAX_AGE_YEARS,
        description="Age on the expected date, from the date of birth or the age the sender gave.",
    )
    vulnerabilities: UniqueList[Vulnerability] = Field(default_factory=list)
    sealed_personal: SealedPersonal = Field(
        json_schema_extra={SEALED_PERSONAL_DATA_MARK: True},
        description="ExpectedPersonal, encrypted under the expected person's own data key"
        " (AES-256-GCM, this event's id and name as associated data).",
    )


class ExpectationClosure(StrEnum):
    """Why an expected person who never registered stopped being expected."""

    LAPSED = "lapsed"
    """Not arrived within the configured time after the expected date."""
    WITHDRAWN = "withdrawn"
    """A supervisor withdrew them: not on the flight, or a manifest error."""


class ExpectedArrivalClosed(ContractModel):
    """An expected person stopped being expected without registering; what identified them
    is destroyed with their data key."""

    expected_id: UUID
    wave_id: UUID
    reception_centre: ReceptionCentre
    reason: ExpectationClosure
    closed_at: UtcDatetime
    closed_by: StaffOrSystem = Field(description="The supervisor, or 'intake' when it lapsed.")
