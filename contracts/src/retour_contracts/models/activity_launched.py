"""``activity.launched``: an income-generating activity (AGR) was launched (reintegration)."""

from typing import Annotated
from uuid import UUID

from pydantic import Field, ValidationInfo, field_validator

from retour_contracts.models.enums import Level, MaliRegion, Sector
from retour_contracts.models.money import Money
from retour_contracts.models.types import ContractModel, UniqueList, UtcDatetime


class Location(ContractModel):
    """Where the activity runs: a region, and the commune when known."""

    region: MaliRegion
    commune: Annotated[str, Field(min_length=1, max_length=100)] | None = None


class Share(ContractModel):
    """Part of the funding attributed to one participant of a collective activity."""

    returnee_id: UUID
    amount: Money


class ActivityLaunched(ContractModel):
    """An income-generating activity was launched for one returnee or a group of returnees."""

    activity_id: UUID
    returnee_ids: UniqueList[UUID] = Field(
        min_length=1,
        description="Participants: one for an individual activity, several for a collective one."
        " The first one is the Kafka key.",
    )
    launched_at: UtcDatetime
    sector: Sector
    location: Location
    funding: Money | None = None
    shares: list[Share] = Field(
        default_factory=list,
        description="Optional split of the funding between participants.",
    )
    aid_ids: UniqueList[UUID] = Field(
        default_factory=list, description="aid.granted events that funded this activity."
    )
    level: Level

    @field_validator("shares")
    @classmethod
    def _shares_of_participants(cls, value: list[Share], info: ValidationInfo) -> list[Share]:
        participants = info.data.get("returnee_ids")
        seen: set[UUID] = set()
        for index, share in enumerate(value):
            if participants is not None and share.returnee_id not in participants:
                raise ValueError(
                    f"shares[{index}].returnee_id {share.returnee_id} is not in returnee_ids"
                )
            if share.returnee_id in seen:
                raise ValueError(f"shares[{index}].returnee_id {share.returnee_id} appears twice")
            seen.add(share.returnee_id)
        return value

    @field_validator("level")
    @classmethod
    def _individual_has_one_participant(cls, value: Level, info: ValidationInfo) -> Level:
        participants = info.data.get("returnee_ids")
        if value is Level.INDIVIDUAL and participants is not None and len(participants) != 1:
            raise ValueError("an individual activity has exactly one returnee in returnee_ids")
        return value
