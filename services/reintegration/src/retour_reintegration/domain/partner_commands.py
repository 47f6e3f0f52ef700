"""What a supervisor submits to the partner registry. Unknown fields are refused, as for every
command of the service (domain/commands.py)."""

from __future__ import annotations

from typing import Annotated, Any, Self

from pydantic import ConfigDict, Field, JsonValue, field_validator, model_validator

from retour_contracts import AidCategory, MaliRegion, ReceptionCentre
from retour_contracts.models.types import UniqueList
from retour_reintegration.domain.commands import Command
from retour_reintegration.domain.partner import PartnerContact

OrganisationName = Annotated[str, Field(min_length=1, max_length=200)]
ContactName = Annotated[str, Field(min_length=1, max_length=200)]
Phone = Annotated[str, Field(pattern=r"^\+?[0-9][0-9 ]{5,23}$")]
"""Digits and spaces, an optional leading +: what a desk phone number looks like."""
Email = Annotated[str, Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]

_CONTACT_EXAMPLE: dict[str, JsonValue] = {
    "name": "Bureau d'accueil",
    "phone": "+223 20 22 00 00",
    "email": "accueil@cfp-bamako.example",
}
PARTNER_EXAMPLES: list[JsonValue] = [
    {
        "name": "Centre de formation professionnelle de Bamako",
        "centres": ["bamako"],
        "regions": ["koulikoro"],
        "services": ["vocational_training", "in_kind_kit"],
        "contact": _CONTACT_EXAMPLE,
    }
]


class ContactEntered(Command):
    name: ContactName
    phone: Phone | None = None
    email: Email | None = None

    def contact(self) -> PartnerContact:
        return PartnerContact(name=self.name, phone=self.phone, email=self.email)


class RegisterPartner(Command):
    """A partner organisation: the reception centres and regions it serves (at least one of
    either), the services it offers, whom staff contact there."""

    model_config = ConfigDict(json_schema_extra={"examples": PARTNER_EXAMPLES})

    name: OrganisationName
    centres: UniqueList[ReceptionCentre] = Field(default_factory=list, max_length=10)
    regions: UniqueList[MaliRegion] = Field(default_factory=list, max_length=30)
    services: UniqueList[AidCategory] = Field(min_length=1, max_length=20)
    contact: ContactEntered | None = None


class ChangePartner(Command):
    """A merge patch of a partner: the fields given replace the partner's (``contact: null``
    removes the contact); ``active: false`` deactivates it, ``true`` activates it again."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"active": False}, {"services": ["vocational_training"]}]}
    )

    name: OrganisationName | None = None
    centres: UniqueList[ReceptionCentre] | None = Field(default=None, max_length=10)
    regions: UniqueList[MaliRegion] | None = Field(default=None, max_length=30)
    services: UniqueList[AidCategory] | None = Field(default=None, min_length=1, max_length=20)
    contact: ContactEntered | None = None
    active: bool | None = None

    @field_validator("name", "centres", "regions", "services", "active", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        # null means "remove" in a merge patch, and only the contact can be removed.
        if value is None:
            raise ValueError("cannot be null: leave the field out to keep it")
        return value

    @model_validator(mode="after")
    def _changes_something(self) -> Self:
        if not self.model_fields_set:
            raise ValueError("name at least one field to change")
        return self
