"""Registrations as the returnee routes answer them: the record intake keeps, which is the
contract's ``ReturneeRegistered`` as registered or last corrected, alone, with its version, in
pages or in search hits. Erased and merged registrations are never listed nor found."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from retour_contracts import ReturneeRegistered
from retour_contracts.examples import RETURNEE_ID
from retour_intake.domain.search import MAX_RESULTS, Match

REGISTRATION: dict[str, Any] = {
    "returnee_id": str(RETURNEE_ID),
    "registered_at": "2024-03-02T10:42:00Z",
    "reception_centre": "gao",
    "arrival_date": "2024-03-02",
    "return_type": "vhr",
    "host_country": "DZ",
    "region_of_origin": "gao",
    "sex": "male",
    "age_years": 28,
    "age_is_estimated": False,
    "household_size": 5,
    "vulnerabilities": ["medical_need"],
    "preferred_language": "fr",
    "consents": {"data_processing": True, "sms_contact": True, "partner_sharing": False},
    "personal": {
        "given_name": "Moussa",
        "family_name": "Maïga",
        "other_names": None,
        "date_of_birth": "1995-08-21",
        "phone": "+22365012345",
        "national_id": None,
    },
    "possible_duplicate_of": [],
    "duplicate_confirmed_by": None,
    "expected_id": None,
}
"""The answer to the registration example (``retour_intake.domain.commands.EXAMPLE``)."""

_CORRECTED = {
    **REGISTRATION,
    "personal": {**REGISTRATION["personal"], "phone": "+22376012345"},
    "version": 2,
}


class VersionedRegistration(ReturneeRegistered):
    """The registration and its version, which the ETag header repeats: a correction sends it
    back in If-Match, so that it never overwrites a colleague's correction unseen."""

    model_config = ConfigDict(json_schema_extra={"examples": [_CORRECTED]})

    version: int = Field(
        ge=1, description="1 as registered, one more for each correction or transfer."
    )


class ShownRegistration(VersionedRegistration):
    """A registration as read by its id, with its version. One that was merged also names the
    person's registration it was merged into: an old reference (an SMS, a paper file) still
    leads to the person."""

    model_config = ConfigDict(json_schema_extra={"examples": [{**REGISTRATION, "version": 1}]})

    merged_into: UUID | SkipJsonSchema[None] = Field(
        default=None,
        description="Present only once this registration was merged into the person's"
        " earlier one (POST /duplicates/{review_id}/decision): read that one.",
    )


class RegistrationPage(BaseModel):
    """Registrations by arrival date, oldest first, one page at a time."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [REGISTRATION],
                    "next_cursor": "WyIyMDI0LTAzLTAyIiwgIjVmMGM2ZDFlLThhM2ItNGMyZC05ZTdmLT"
                    "FhMmIzYzRkNWU2ZiJd",
                }
            ]
        }
    )

    items: list[ReturneeRegistered]
    next_cursor: str | None = Field(
        description="Send it as `cursor` for the next page; null on the last page."
    )


class SearchHit(BaseModel):
    """One person found, and why."""

    returnee: ReturneeRegistered
    matched: list[Match] = Field(
        description="Each reading of the query that found the person, in alphabetical order."
    )
    score: float = Field(
        ge=0,
        le=1,
        description="1 for an exact reading (reference, phone, national ID); for names, how"
        " closely the searched words match the person's (trigram word similarity).",
    )


class SearchResults(BaseModel):
    """The people found within your centres, best matches first, each once."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"items": [{"returnee": REGISTRATION, "matched": ["phone"], "score": 1.0}]}
            ]
        }
    )

    items: list[SearchHit] = Field(max_length=MAX_RESULTS)
