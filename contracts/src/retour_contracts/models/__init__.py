"""Pydantic models of the business events and their nested objects."""

from retour_contracts.models.activity_launched import ActivityLaunched, Location, Share
from retour_contracts.models.aid_granted import AidGranted
from retour_contracts.models.consent_changed import ConsentChanged
from retour_contracts.models.enums import (
    AidCategory,
    AidPhase,
    ChangeReason,
    Dimension,
    ErasureReason,
    Level,
    MaliRegion,
    Modality,
    ReceptionCentre,
    RegistrationField,
    ReturnType,
    Sector,
    Sex,
    Vulnerability,
)
from retour_contracts.models.money import Money
from retour_contracts.models.returnee_erased import ReturneeErased
from retour_contracts.models.returnee_merged import ReturneeMerged
from retour_contracts.models.returnee_registered import (
    Consents,
    PersonalData,
    RegistrationFacts,
    ReturneeRegistered,
    ReturneeRegisteredV2,
    SealedPersonal,
)
from retour_contracts.models.returnee_updated import FactChanges, ReturneeUpdated
from retour_contracts.models.types import PERSONAL_DATA_MARK, ContractModel

Event = ReturneeRegistered | ReturneeRegisteredV2 | AidGranted | ActivityLaunched
"""Any business event of the contract, every version still read: what happened to a returnee."""

DataProtectionEvent = ReturneeErased | ConsentChanged
"""What a returnee decided about their own data; every holder of it must act on these."""

__all__ = [
    "PERSONAL_DATA_MARK",
    "ActivityLaunched",
    "AidCategory",
    "AidGranted",
    "AidPhase",
    "ChangeReason",
    "ConsentChanged",
    "Consents",
    "ContractModel",
    "DataProtectionEvent",
    "Dimension",
    "ErasureReason",
    "Event",
    "FactChanges",
    "Level",
    "Location",
    "MaliRegion",
    "Modality",
    "Money",
    "PersonalData",
    "ReceptionCentre",
    "RegistrationFacts",
    "RegistrationField",
    "ReturnType",
    "ReturneeErased",
    "ReturneeMerged",
    "ReturneeRegistered",
    "ReturneeRegisteredV2",
    "ReturneeUpdated",
    "SealedPersonal",
    "Sector",
    "Sex",
    "Share",
    "Vulnerability",
]
