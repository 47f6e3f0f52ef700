"""What a case worker submits. The service assigns ids, timestamps and the granting user.

Unknown fields are refused (a typo must not be silently dropped from a grant of money). The
examples come from the contract's own examples, so the OpenAPI document shows the fields of
the events that a request produces.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Self
from uuid import UUID

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    ValidationInfo,
    field_validator,
    model_validator,
)

from retour_contracts import (
    AidCategory,
    AidPhase,
    ClosureReason,
    Dimension,
    Level,
    Location,
    Modality,
    Money,
    ReopeningReason,
    Sector,
    Share,
    VisitOutcome,
)
from retour_contracts.examples import activity_launched_data, aid_granted_data
from retour_contracts.models.types import RefusesControlCharacters, UniqueList, UtcDatetime
from retour_reintegration.domain.follow_up import example_answers

Label = Annotated[str, Field(min_length=1, max_length=200)]


def _example(data: dict[str, Any], fields: tuple[str, ...]) -> dict[str, JsonValue]:
    return {name: data[name] for name in fields}


GRANT_AID_EXAMPLES: list[JsonValue] = [
    _example(
        aid_granted_data(),
        ("phase", "category", "dimension", "level", "modality", "partner", "amount"),
    ),
    _example(
        aid_granted_data(
            phase="immediate",
            category="medical",
            dimension="psychosocial",
            modality="referral",
            partner="Centre de santé de référence de Kayes",
            amount=None,
        ),
        ("phase", "category", "dimension", "level", "modality", "partner", "amount"),
    ),
]

LAUNCH_ACTIVITY_EXAMPLES: list[JsonValue] = [
    _example(
        activity_launched_data(),
        ("returnee_ids", "sector", "location", "funding", "shares", "aid_ids", "level"),
    )
]


class Command(RefusesControlCharacters, BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class LocationEntered(RefusesControlCharacters, Location):
    """The contract's location, as typed by a case worker (the commune is free text)."""


class GrantAid(Command):
    """Aid granted to the returnee of the case; ``amount`` is required for cash and grants."""

    model_config = ConfigDict(json_schema_extra={"examples": GRANT_AID_EXAMPLES})

    phase: AidPhase
    category: AidCategory
    dimension: Dimension
    level: Level = Level.INDIVIDUAL
    modality: Modality = Modality.DIRECT
    partner: Label | None = Field(default=None, description="Required for a referral.")
    amount: Money | None = None
    granted_at: UtcDatetime | None = Field(
        default=None, description="When the aid was given, if earlier than now."
    )

    @model_validator(mode="after")
    def _referral_names_partner(self) -> Self:
        if self.modality is Modality.REFERRAL and self.partner is None:
            raise ValueError("partner is required when modality is referral")
        return self


class LaunchActivity(Command):
    """An income-generating activity: one participant, or several for a collective one."""

    model_config = ConfigDict(json_schema_extra={"examples": LAUNCH_ACTIVITY_EXAMPLES})

    returnee_ids: UniqueList[UUID] = Field(min_length=1, max_length=100)
    sector: Sector
    location: LocationEntered
    funding: Money | None = None
    shares: list[Share] = Field(default_factory=list, max_length=100)
    aid_ids: UniqueList[UUID] = Field(default_factory=list, max_length=100)
    level: Level
    launched_at: UtcDatetime | None = Field(
        default=None, description="When the activity started, if earlier than now."
    )


class CloseCase(Command):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"reason": ClosureReason.REINTEGRATION_COMPLETED}]}
    )

    reason: ClosureReason


class ReopenCase(Command):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"reason": ReopeningReason.CONTACT_REGAINED}]}
    )

    reason: ReopeningReason


StaffId = Annotated[str, Field(min_length=1, max_length=100)]


class AssignCase(Command):
    """The case worker (their user id, the subject of their token) who is to have the case."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"case_worker": "agent.bamako.014"}]})

    case_worker: StaffId


SurveyAnswersGiven = Annotated[dict[str, JsonValue], Field(max_length=100)]
"""Question code -> answer code, checked against the survey itself (domain/follow_up.py:
survey_answers), which names a wrong field without echoing what was sent."""


def _visit_examples(schema: dict[str, Any]) -> None:
    # Built with the OpenAPI document, not at import: the survey is read from its data file.
    schema["examples"] = [
        {"outcome": "completed", "visited_on": "2024-09-12", "answers": dict(example_answers())},
        {"outcome": "unreachable", "visited_on": "2024-09-12"},
    ]


class RecordVisit(Command):
    """A monitoring visit: the Reintegration Sustainability Survey's answers when it was taken
    (``completed``), none when the returnee could not be reached (``unreachable``)."""

    model_config = ConfigDict(json_schema_extra=_visit_examples)

    outcome: VisitOutcome
    visited_on: date
    answers: SurveyAnswersGiven | None = Field(
        default=None,
        validate_default=True,
        description="Question code -> answer code (GET /sustainability-survey), exactly when"
        " the outcome is completed.",
    )

    @field_validator("answers")
    @classmethod
    def _answers_exactly_when_completed(
        cls, answers: dict[str, str] | None, info: ValidationInfo
    ) -> dict[str, str] | None:
        outcome = info.data.get("outcome")
        if outcome is VisitOutcome.COMPLETED and answers is None:
            raise ValueError("required when the outcome is completed")
        if outcome is VisitOutcome.UNREACHABLE and answers is not None:
            raise ValueError("not given when the returnee was unreachable")
        return answers
