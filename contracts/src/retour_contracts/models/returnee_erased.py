"""``returnee.erased``: a returnee's personal data was erased (intake)."""

from uuid import UUID

from retour_contracts.models.enums import ErasureReason
from retour_contracts.models.types import ContractModel, UtcDatetime


class ReturneeErased(ContractModel):
    """Every service forgets what it holds of this person's personal data, for good, and never
    contacts them again; counts and other non-personal facts stay. Carries no personal data."""

    returnee_id: UUID
    erased_at: UtcDatetime
    reason: ErasureReason
