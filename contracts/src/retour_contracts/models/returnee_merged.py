"""``returnee.merged``: two registrations are one person (intake, after a supervisor's review)."""

from typing import Annotated, Self
from uuid import UUID

from pydantic import Field, model_validator

from retour_contracts.models.types import ContractModel, UtcDatetime


class ReturneeMerged(ContractModel):
    """A supervisor found that registration ``returnee_id`` is the same person as the earlier
    registration ``merged_into``: from now on the person is counted, served and contacted once,
    as ``merged_into``. What was recorded under ``returnee_id`` (aid, activities, messages)
    belongs to ``merged_into``; ``returnee_id``'s own case closes as a duplicate registration.
    Carries no personal data."""

    returnee_id: UUID = Field(description="The later registration, which now points to the other.")
    merged_into: UUID = Field(description="The earlier registration, which the person keeps.")
    merged_at: UtcDatetime
    merged_by: Annotated[str, Field(min_length=1, max_length=100)] = Field(
        description="Supervisor who decided (the token's subject)."
    )

    @model_validator(mode="after")
    def _two_registrations(self) -> Self:
        if self.returnee_id == self.merged_into:
            raise ValueError("a registration is not merged into itself")
        return self
