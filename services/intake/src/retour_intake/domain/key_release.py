"""Who may obtain a returnee's data key, which opens their sealed personal block.

Need-to-know, decided per returnee: notifications may (it texts those who consented to SMS,
and the phone is in the block only with that consent); a partner organisation only for a
returnee who consented to partner sharing; nobody once the person is erased. Reporting and
people's own accounts never reach this far (the route's roles refuse them).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

MAX_KEYS_PER_REQUEST = 500


class LookUpDataKeys(BaseModel):
    model_config = ConfigDict(extra="forbid")

    returnee_ids: Annotated[list[UUID], Field(min_length=1, max_length=MAX_KEYS_PER_REQUEST)] = (
        Field(description="The returnees whose data keys are asked for (a consumer's batch).")
    )


class KeyRefusal(StrEnum):
    UNKNOWN = "unknown"
    """No such returnee (within the caller's centres)."""
    ERASED = "erased"
    NO_PARTNER_SHARING = "no_partner_sharing_consent"
    NOT_SEALED = "not_sealed"
    """No data key: registered before version 2 and not yet sealed, or its key was lost."""
    NOT_AVAILABLE = "not_available"
    """What a partner is told, whatever the reason: that a person exists, was erased or did
    not consent is itself personal data."""


@dataclass(frozen=True)
class KeyHolder:
    """What decides the release of one returnee's key."""

    returnee_id: UUID
    erased: bool
    partner_sharing: bool
    has_key: bool


def refusal(holder: KeyHolder | None, *, for_partner: bool) -> KeyRefusal | None:
    """Why the key is not released, or None when it is."""
    reason = _reason(holder, for_partner=for_partner)
    return KeyRefusal.NOT_AVAILABLE if reason is not None and for_partner else reason


def _reason(holder: KeyHolder | None, *, for_partner: bool) -> KeyRefusal | None:
    if holder is None:
        return KeyRefusal.UNKNOWN
    if holder.erased:
        return KeyRefusal.ERASED
    if for_partner and not holder.partner_sharing:
        return KeyRefusal.NO_PARTNER_SHARING
    if not holder.has_key:
        return KeyRefusal.NOT_SEALED
    return None
