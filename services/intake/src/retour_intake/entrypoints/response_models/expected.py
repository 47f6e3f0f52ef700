"""Expected arrivals as their routes answer them: a manifest received, the expected people
(``adapters/pg_expected.py``: ``_shown``), the waves' counts, matches and withdrawals.

An expected person's personal data is kept only while they are open: once they registered,
were closed or erased, ``personal`` is null and their registration (if any) holds the data."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from retour_contracts import (
    ExpectationClosure,
    ExpectedPersonal,
    ReceptionCentre,
    Sex,
    Vulnerability,
)
from retour_contracts.examples import EXPECTED_ID, WAVE_ID
from retour_contracts.models.types import CountryCode
from retour_intake.domain.duplicates import MatchStrength

WAVE_NAME = "Évacuation Port-Bouët, vol 2"
SECOND_EXPECTED_ID = UUID("e8ec7ed0-2b3c-4d5e-9f60-718293a4b5c7")
ARRIVED_RETURNEE_ID = UUID("c41d2e3f-5a6b-4c7d-8e9f-0a1b2c3d4e5f")

OPEN_PERSON: dict[str, Any] = {
    "expected_id": str(EXPECTED_ID),
    "wave_id": str(WAVE_ID),
    "wave_name": WAVE_NAME,
    "reception_centre": "bamako",
    "expected_date": "2024-06-11",
    "host_country": "CI",
    "status": "open",
    "sex": "female",
    "age_years": 27,
    "vulnerabilities": [],
    "personal": {
        "given_name": "Awa",
        "family_name": "Traoré",
        "other_names": None,
        "date_of_birth": "1997-01-15",
        "phone": None,
        "national_id": None,
        "passport_number": "AA0123456",
    },
    "returnee_id": None,
    "announced_at": "2024-06-09T16:00:04.318245+00:00",
    "arrived_at": None,
    "closed_at": None,
    "closure_reason": None,
}

_ARRIVED_PERSON: dict[str, Any] = {
    **OPEN_PERSON,
    "expected_id": str(SECOND_EXPECTED_ID),
    "status": "arrived",
    "sex": "male",
    "age_years": 34,
    "vulnerabilities": ["medical_need"],
    "personal": None,
    "returnee_id": str(ARRIVED_RETURNEE_ID),
    "arrived_at": "2024-06-11T13:27:40.902117+00:00",
}


class ManifestReceived(BaseModel):
    """The wave received, and the id given to each person, in the manifest's order."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "wave_id": str(WAVE_ID),
                    "wave_name": WAVE_NAME,
                    "reception_centre": "bamako",
                    "expected_date": "2024-06-11",
                    "people": 2,
                    "expected_ids": [str(EXPECTED_ID), str(SECOND_EXPECTED_ID)],
                }
            ]
        }
    )

    wave_id: UUID
    wave_name: str
    reception_centre: ReceptionCentre
    expected_date: date
    people: int = Field(ge=1, description="How many people the manifest announced.")
    expected_ids: list[UUID] = Field(min_length=1)


class ExpectedArrival(BaseModel):
    """A person a manifest announced, and what became of them."""

    model_config = ConfigDict(json_schema_extra={"examples": [OPEN_PERSON, _ARRIVED_PERSON]})

    expected_id: UUID
    wave_id: UUID
    wave_name: str
    reception_centre: ReceptionCentre
    expected_date: date
    host_country: CountryCode | None = Field(description="The country the wave leaves, if known.")
    status: Literal["open", "arrived", "closed"]
    sex: Sex | None
    age_years: int | None = Field(ge=0, description="Age on the expected date, if known.")
    vulnerabilities: list[Vulnerability]
    personal: ExpectedPersonal | None = Field(
        description="What the manifest said of the person; null once they are no longer open."
    )
    returnee_id: UUID | None = Field(
        description="The registration that confirmed them; null unless arrived."
    )
    announced_at: datetime
    arrived_at: datetime | None
    closed_at: datetime | None
    closure_reason: ExpectationClosure | None


class ExpectedArrivalPage(BaseModel):
    """Expected people by expected date, one page at a time."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"items": [OPEN_PERSON, _ARRIVED_PERSON], "next_cursor": None}]
        }
    )

    items: list[ExpectedArrival]
    next_cursor: str | None = Field(
        description="Send it as `cursor` for the next page; null on the last page."
    )


class WaveCounts(BaseModel):
    """A wave and what became of its people; no personal data."""

    wave_id: UUID
    wave_name: str
    reception_centre: ReceptionCentre
    expected_date: date
    host_country: CountryCode | None
    announced_at: datetime
    expected: int = Field(ge=1, description="People on the manifest.")
    arrived: int = Field(ge=0)
    open: int = Field(ge=0)
    closed: int = Field(ge=0)


class WaveList(BaseModel):
    """The latest waves, last announced first."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {
                            "wave_id": str(WAVE_ID),
                            "wave_name": WAVE_NAME,
                            "reception_centre": "bamako",
                            "expected_date": "2024-06-11",
                            "host_country": "CI",
                            "announced_at": "2024-06-09T16:00:04.318245+00:00",
                            "expected": 415,
                            "arrived": 388,
                            "open": 20,
                            "closed": 7,
                        }
                    ]
                }
            ]
        }
    )

    items: list[WaveCounts]


class ExpectedMatch(BaseModel):
    """An open expected person the person at the door may be."""

    strength: MatchStrength = Field(
        description="As duplicate detection's rule rates the match: a strong one is proposed"
        " whatever centre announced the person, a weak one only from your centres."
    )
    expected: ExpectedArrival


class ExpectedMatches(BaseModel):
    """Strongest first; confirm one with ``expected_id`` in POST /returnees."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"items": [{"strength": "strong", "expected": OPEN_PERSON}]}]
        }
    )

    items: list[ExpectedMatch]


class ExpectedWithdrawn(BaseModel):
    """The expected person, closed as withdrawn; their personal data and key are gone."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "expected_id": str(EXPECTED_ID),
                    "status": "closed",
                    "reason": "withdrawn",
                    "closed_at": "2024-06-10T14:30:09.250871+00:00",
                }
            ]
        }
    )

    expected_id: UUID
    status: Literal["closed"]
    reason: Literal["withdrawn"]
    closed_at: datetime
