"""``consent.changed``: a returnee withdrew or gave a consent (intake)."""

from typing import Self
from uuid import UUID

from pydantic import Field, model_validator

from retour_contracts.models.types import ContractModel, UtcDatetime


class ConsentChanged(ContractModel):
    """The consents as they are from ``changed_at`` on; a field left null did not change.
    Carries no personal data (giving SMS consent back does not carry a phone number)."""

    returnee_id: UUID
    changed_at: UtcDatetime
    sms_contact: bool | None = Field(
        default=None, description="The returnee may (true) or may no longer (false) get SMS."
    )
    partner_sharing: bool | None = Field(
        default=None, description="Data may (true) or may no longer (false) go to partners."
    )

    @model_validator(mode="after")
    def _something_changed(self) -> Self:
        if self.sms_contact is None and self.partner_sharing is None:
            raise ValueError("a consent change names sms_contact, partner_sharing or both")
        return self
