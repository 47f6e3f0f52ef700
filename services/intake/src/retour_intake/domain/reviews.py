"""The duplicate review queue: pairs of registrations a supervisor decides on.

Duplicate detection flags at the door; it cannot know. A weak match is registered and queued;
a strong match is refused unless a supervisor overrides it with a reason, and the override is
kept as a decided review (who, when, why). A supervisor who finds that the two registrations
are one person merges the later into the earlier: the person is then counted, served and
contacted once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field


class OverrideReason(StrEnum):
    """Why a supervisor let a strong match through, or found a pair to be two people (a
    code: free text here would hold personal data)."""

    DOCUMENTS_CHECKED = "documents_checked"  # identity documents show two people
    FAMILY_MEMBER = "family_member"  # a relative with the same name or phone
    CONFIRMED_WITH_RETURNEE = "confirmed_with_returnee"  # asked the person in front of them


class Decision(StrEnum):
    NOT_DUPLICATE = "not_duplicate"
    SAME_PERSON = "same_person"


class ReviewStatus(StrEnum):
    OPEN = "open"
    NOT_DUPLICATE = "not_duplicate"
    SAME_PERSON = "same_person"


class DecideDuplicate(BaseModel):
    """A supervisor's decision on one pair. ``same_person`` merges the later registration into
    the earlier one; ``not_duplicate`` closes the pair and changes nothing else."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    decision: Decision
    reason: OverrideReason | None = Field(
        default=None, description="Why they are two people; required for a strong match."
    )


@dataclass(frozen=True)
class Review:
    review_id: UUID
    returnee_id: UUID
    candidate_id: UUID
    strength: str
    status: ReviewStatus
    created_at: datetime
    decided_at: datetime | None = None
    decided_by: str | None = None
    reason: str | None = None


class ReviewNotFound(Exception):
    """No such review within the caller's centres."""


class AlreadyDecided(Exception):
    """The pair was decided otherwise before."""

    def __init__(self, status: ReviewStatus) -> None:
        super().__init__(f"the review was already decided: {status.value}")
        self.status = status


class CannotMerge(Exception):
    """The pair cannot be merged (one of them was erased, or the later one is merged already);
    the message names which, never anything of the person."""


class ReasonRequired(ValueError):
    """Telling two people apart after a strong match needs a reason."""


def check_decision(review: Review, command: DecideDuplicate) -> bool:
    """Whether the decision is still to be made (False: the same decision was made before,
    a retry). Raises AlreadyDecided or ReasonRequired."""
    if review.status is not ReviewStatus.OPEN:
        if review.status.value == command.decision.value:
            return False
        raise AlreadyDecided(review.status)
    not_duplicate = command.decision is Decision.NOT_DUPLICATE
    if not_duplicate and review.strength == "strong" and command.reason is None:
        raise ReasonRequired("a strong match is told apart only with a reason")
    return True
