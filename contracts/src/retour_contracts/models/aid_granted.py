"""``aid.granted``: assistance was granted to a returnee (reintegration)."""

from typing import Annotated
from uuid import UUID

from pydantic import Field, ValidationInfo, field_validator

from retour_contracts.models.enums import AidCategory, AidPhase, Dimension, Level, Modality
from retour_contracts.models.money import Money
from retour_contracts.models.types import ContractModel, UtcDatetime

Label = Annotated[str, Field(min_length=1, max_length=200)]


class AidGranted(ContractModel):
    """Assistance was granted to a returnee, either immediate care or reintegration support."""

    aid_id: UUID
    returnee_id: UUID
    granted_at: UtcDatetime
    phase: AidPhase
    category: AidCategory
    dimension: Dimension
    level: Level
    modality: Modality
    partner: Label | None = Field(
        default=None,
        validate_default=True,  # so the referral check below also runs when partner is omitted
        description="Partner organisation; required when modality is referral.",
    )
    amount: Money | None = Field(default=None, description="Only where money is involved.")
    granted_by: Label = Field(description="Staff member (user id) who granted the aid.")
    late: bool = Field(
        default=False,
        description="Immediate aid given more than 72 hours after arrival (a service target).",
    )

    @field_validator("partner")
    @classmethod
    def _referral_names_partner(cls, value: str | None, info: ValidationInfo) -> str | None:
        # A referral without a partner cannot be followed up; this is the one place to catch it.
        if value is None and info.data.get("modality") is Modality.REFERRAL:
            raise ValueError("partner is required when modality is referral")
        return value

    @field_validator("late")
    @classmethod
    def _late_only_for_immediate(cls, value: bool, info: ValidationInfo) -> bool:
        # The 72-hour target only exists for immediate care.
        if value and info.data.get("phase") is AidPhase.REINTEGRATION:
            raise ValueError("late applies to immediate aid only")
        return value
