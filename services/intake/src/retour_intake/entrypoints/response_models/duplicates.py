"""The duplicate review queue as supervisors read it: each pair with both registrations to
compare, as they are now. Nothing closes a pair when one of its registrations is erased, and the
earlier one may be at a centre the reader does not work at: both cases have their own shape."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from retour_contracts import ReceptionCentre, RegistrationFacts, ReturneeRegistered
from retour_contracts.examples import RETURNEE_ID, SECOND_RETURNEE_ID
from retour_intake.domain.duplicates import MatchStrength
from retour_intake.domain.reviews import OverrideReason, ReviewStatus
from retour_intake.entrypoints.response_models.registrations import REGISTRATION

REVIEW_ID = UUID("d0b1e2f3-a4b5-4c6d-8e7f-9a0b1c2d3e4f")

_LATER_REGISTRATION: dict[str, Any] = {
    **REGISTRATION,
    "returnee_id": str(SECOND_RETURNEE_ID),
    "registered_at": "2024-05-14T11:05:00Z",
    "arrival_date": "2024-05-14",
    "return_type": "spontaneous_return",
    "host_country": "NE",
    "age_years": 29,
    "age_is_estimated": True,
    "vulnerabilities": [],
    "consents": {"data_processing": True, "sms_contact": False, "partner_sharing": False},
    "personal": {
        "given_name": "Moussa",
        "family_name": "Maiga",
        "other_names": None,
        "date_of_birth": None,
        "phone": None,
        "national_id": None,
    },
    "possible_duplicate_of": [str(RETURNEE_ID)],
}

_OPEN_REVIEW: dict[str, Any] = {
    "review_id": str(REVIEW_ID),
    "returnee_id": str(SECOND_RETURNEE_ID),
    "candidate_id": str(RETURNEE_ID),
    "strength": "weak",
    "status": "open",
    "created_at": "2024-05-14T11:05:00+00:00",
    "decided_at": None,
    "decided_by": None,
    "reason": None,
}

_PAIR: dict[str, Any] = {**_OPEN_REVIEW, "returnee": _LATER_REGISTRATION, "candidate": REGISTRATION}


class DuplicateReview(BaseModel):
    """A pair of registrations that duplicate detection matched, and what a supervisor
    decided about it."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **_OPEN_REVIEW,
                    "status": "same_person",
                    "decided_at": "2024-05-15T08:20:31.402518+00:00",
                    "decided_by": "supervisor.gao.1",
                }
            ]
        }
    )

    review_id: UUID
    returnee_id: UUID = Field(description="The later registration.")
    candidate_id: UUID = Field(description="The earlier registration it matched.")
    strength: MatchStrength = Field(
        description="`weak`: registered, then queued here; `strong`: registered only because"
        " a supervisor confirmed it is someone else, and recorded here as decided."
    )
    status: ReviewStatus
    created_at: datetime = Field(description="When the later registration was made.")
    decided_at: datetime | None = Field(description="Null while open.")
    decided_by: str | None = Field(description="The deciding supervisor; null while open.")
    reason: OverrideReason | None = Field(
        description="The supervisor's reason, when given (required to tell a strong match apart)."
    )


class ErasedRegistration(RegistrationFacts):
    """A registration whose person was erased: its tombstone, the facts without the personal
    block."""


class RegistrationElsewhere(BaseModel):
    """The earlier registration of a pair, when it is at a centre the reader does not work
    at: its id and centre only."""

    returnee_id: UUID
    reception_centre: ReceptionCentre


class ReviewedPair(DuplicateReview):
    """A pair to review, with both registrations as they are now."""

    model_config = ConfigDict(json_schema_extra={"examples": [_PAIR]})

    returnee: ReturneeRegistered | ErasedRegistration = Field(
        description="The later registration (its tombstone once erased)."
    )
    candidate: ReturneeRegistered | ErasedRegistration | RegistrationElsewhere = Field(
        description="The earlier registration (its tombstone once erased); its id and centre"
        " only when that centre is not yours."
    )


class ReviewPage(BaseModel):
    """Pairs with the status asked for, oldest first, one page at a time."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"items": [_PAIR], "next_cursor": None}]}
    )

    items: list[ReviewedPair]
    next_cursor: str | None = Field(
        description="Send it as `cursor` for the next page; null on the last page."
    )
