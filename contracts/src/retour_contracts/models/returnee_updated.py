"""``returnee.updated``: a registration was corrected, or the person transferred (intake)."""

from datetime import date
from typing import Annotated, Self
from uuid import UUID

from pydantic import Field, model_validator

from retour_contracts.models.enums import (
    ChangeReason,
    MaliRegion,
    ReceptionCentre,
    RegistrationField,
    ReturnType,
    Sex,
    Vulnerability,
)
from retour_contracts.models.returnee_registered import MAX_AGE_YEARS, SealedPersonal
from retour_contracts.models.types import (
    SEALED_PERSONAL_DATA_MARK,
    ContractModel,
    CountryCode,
    LanguageTag,
    UniqueList,
    UtcDatetime,
)


class FactChanges(ContractModel):
    """The new value of each fact the change touched; a field left null did not change (none
    of these facts can be emptied)."""

    reception_centre: ReceptionCentre | None = Field(
        default=None, description="A transfer: the case and the counts move with the person."
    )
    arrival_date: date | None = None
    return_type: ReturnType | None = None
    host_country: CountryCode | None = None
    region_of_origin: MaliRegion | None = None
    sex: Sex | None = None
    age_years: Annotated[int, Field(ge=0, le=MAX_AGE_YEARS)] | None = None
    age_is_estimated: bool | None = None
    household_size: Annotated[int, Field(ge=1)] | None = None
    vulnerabilities: UniqueList[Vulnerability] | None = None
    preferred_language: LanguageTag | None = None


class ReturneeUpdated(ContractModel):
    """A registration was corrected, or the person transferred to another reception centre.

    ``changed`` names every field that changed. The facts among them carry their new value in
    ``facts``. When a personal field changed, ``sealed_personal`` carries the whole personal block
    as it is after the change, sealed like ``returnee.registered`` version 2's (the returnee's
    data key; this event's id as associated data), so a holder replaces what it had in one step
    and an erasure makes this copy unreadable too. ``version`` orders the changes of one person:
    the registration is version 1 and each change adds one, so a consumer that already applied
    a later version ignores an earlier one, whichever topic it read first.
    """

    returnee_id: UUID
    version: int = Field(ge=2, description="The registration's version after this change.")
    updated_at: UtcDatetime
    updated_by: Annotated[str, Field(min_length=1, max_length=100)] = Field(
        description="Staff member who made the change (the token's subject)."
    )
    reason: ChangeReason
    changed: UniqueList[RegistrationField] = Field(min_length=1)
    facts: FactChanges = Field(default_factory=FactChanges)
    sealed_personal: SealedPersonal | None = Field(
        default=None,
        json_schema_extra={SEALED_PERSONAL_DATA_MARK: True},
        description="PersonalData after the change, encrypted under the returnee's data key;"
        " present exactly when a personal.* field changed.",
    )

    @model_validator(mode="after")
    def _changes_are_named(self) -> Self:
        named = {field.value for field in self.changed if not field.is_personal}
        carried = {
            name for name in FactChanges.model_fields if getattr(self.facts, name) is not None
        }
        if named != carried:
            raise ValueError("facts must carry exactly the facts named in changed")
        personal = any(field.is_personal for field in self.changed)
        if personal != (self.sealed_personal is not None):
            raise ValueError("sealed_personal is present exactly when a personal field changed")
        return self

    @property
    def is_transfer(self) -> bool:
        return self.facts.reception_centre is not None
