"""What a case worker submits about a case's reintegration plan. Codes, dates and ids only: no
free text about a returnee (it would be personal data outside the marked fields)."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from pydantic import ConfigDict, Field, JsonValue

from retour_contracts import AidCategory, Dimension, PlanItemStatus, Provider
from retour_contracts.examples import PARTNER_ID
from retour_reintegration.domain.commands import Command

DRAFT_EXAMPLES: list[JsonValue] = [
    {
        "items": [
            {
                "dimension": "economic",
                "category": "vocational_training",
                "provider": "partner",
                "partner_id": str(PARTNER_ID),
                "target_date": "2024-09-30",
                "status": "planned",
            },
            {
                "dimension": "psychosocial",
                "category": "psychosocial",
                "provider": "retour",
                "target_date": "2024-08-15",
                "status": "planned",
            },
        ]
    }
]


class ItemEntered(Command):
    """One item of a revision. ``item_id`` names an item of the previous revision carried over
    (left out for a new item: the service makes its id). ``partner_id`` is given exactly when a
    partner provides it."""

    item_id: UUID | None = None
    dimension: Dimension
    category: AidCategory = Field(description="What the item is, as a code.")
    provider: Provider
    partner_id: UUID | None = None
    target_date: date
    status: PlanItemStatus = PlanItemStatus.PLANNED


class DraftRevision(Command):
    """A new revision of the case's plan, a draft until it is agreed with the returnee."""

    model_config = ConfigDict(json_schema_extra={"examples": DRAFT_EXAMPLES})

    items: list[ItemEntered] = Field(min_length=1, max_length=50)


class AgreePlan(Command):
    """The returnee agreed to ``revision`` on ``agreed_on``, with the caller."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"revision": 1, "agreed_on": "2024-07-05"}]}
    )

    revision: int = Field(ge=1, le=10_000)
    agreed_on: date


class ChangeItemStatus(Command):
    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "in_progress"}]})

    status: PlanItemStatus
