"""What the routes of a person's rights over their data answer (erasure, consents), and the
key store's answer to the services and partners that open sealed personal blocks."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from retour_contracts import Consents, ErasureReason
from retour_contracts.examples import EXAMPLE_DATA_KEY, RETURNEE_ID, SECOND_RETURNEE_ID
from retour_contracts.sealing import encode_key
from retour_intake.domain.key_release import KeyRefusal


class ErasureRecorded(BaseModel):
    """The erasure, as made the first time: a repeated request answers the same."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "returnee_id": str(RETURNEE_ID),
                    "erased_at": "2024-09-02T08:00:12.730114+00:00",
                    "reason": "data_subject_request",
                }
            ]
        }
    )

    returnee_id: UUID
    erased_at: datetime
    reason: ErasureReason


class ConsentsNow(BaseModel):
    """The person's consents after the change."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "returnee_id": str(RETURNEE_ID),
                    "consents": {
                        "data_processing": True,
                        "sms_contact": False,
                        "partner_sharing": False,
                    },
                }
            ]
        }
    )

    returnee_id: UUID
    consents: Consents


class ReleasedKey(BaseModel):
    """One returnee's data key, which opens their sealed personal blocks."""

    returnee_id: UUID
    key: str = Field(
        pattern=r"^[A-Za-z0-9_-]{43}$", description="The 256-bit key, base64url without padding."
    )


class RefusedKey(BaseModel):
    """A returnee whose key is not released, and why."""

    returnee_id: UUID
    reason: KeyRefusal = Field(
        description="`unknown`: no such returnee within your centres; `erased`;"
        " `no_partner_sharing_consent`; `not_sealed`: registered before keys existed and not"
        " sealed since, or its key was lost; `not_available`: what a partner is told, whatever"
        " the reason."
    )


class DataKeys(BaseModel):
    """The keys released, and why each other returnee's was not: every returnee asked for is
    in one of the two lists, once."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "algorithm": "AES-256-GCM",
                    "cache_seconds": 60,
                    "keys": [
                        {"returnee_id": str(RETURNEE_ID), "key": encode_key(EXAMPLE_DATA_KEY)}
                    ],
                    "refused": [{"returnee_id": str(SECOND_RETURNEE_ID), "reason": "erased"}],
                }
            ]
        }
    )

    algorithm: Literal["AES-256-GCM"]
    cache_seconds: int = Field(ge=0, description="Keep a key no longer than this.")
    keys: list[ReleasedKey]
    refused: list[RefusedKey]
