"""Requests about a returnee's own data: erasure and consents (docs/data-protection.md)."""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from retour_contracts import ErasureReason


class EraseReturnee(BaseModel):
    """Erase a returnee's personal data everywhere, for good."""

    model_config = ConfigDict(extra="forbid")

    reason: ErasureReason = Field(
        description="Why: a code, never free text (it goes on Kafka and stays in the tombstone)."
    )


class ChangeConsents(BaseModel):
    """Withdraw (false) or give (true) a consent; a consent left out does not change.
    Consent to processing itself is not withdrawn here: that is an erasure."""

    model_config = ConfigDict(extra="forbid")

    sms_contact: bool | None = None
    partner_sharing: bool | None = None

    @model_validator(mode="after")
    def _names_a_consent(self) -> Self:
        if self.sms_contact is None and self.partner_sharing is None:
            raise ValueError("name sms_contact, partner_sharing or both")
        return self

    def changed_fields(self) -> list[str]:
        return [
            f"consents.{name}" for name, value in self.model_dump().items() if value is not None
        ]


class ReturneeNotFound(Exception):
    """No such returnee within the caller's centres."""


class ReturneeErasedAlready(Exception):
    """The returnee's personal data was erased: nothing of it can be read or changed."""
