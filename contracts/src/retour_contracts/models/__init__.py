"""Pydantic models of the business events and their nested objects."""

from retour_contracts.models.activity_launched import ActivityLaunched, Location, Share
from retour_contracts.models.aid_granted import AidGranted
from retour_contracts.models.case_lifecycle import (
    CaseAssigned,
    CaseClosed,
    CaseReopened,
    FollowUpScheduled,
    PlanAgreed,
    PlanItemSummary,
    ReferralUpdated,
    ReintegrationAssessed,
    SustainabilityScores,
)
from retour_contracts.models.consent_changed import ConsentChanged
from retour_contracts.models.enums import (
    AidCategory,
    AidPhase,
    AssessmentKind,
    ChangeReason,
    ClosureReason,
    Dimension,
    ErasureReason,
    Level,
    MaliRegion,
    Modality,
    PlanItemStatus,
    Provider,
    ReceptionCentre,
    ReferralStatus,
    RegistrationField,
    ReopeningReason,
    ReturnType,
    Sector,
    Sex,
    VisitOutcome,
    Vulnerability,
)
from retour_contracts.models.money import Money
from retour_contracts.models.returnee_erased import ReturneeErased
from retour_contracts.models.returnee_expected import (
    ExpectationClosure,
    ExpectedArrivalClosed,
    ExpectedPersonal,
    ReturneeExpected,
)
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

CaseEvent = (
    CaseAssigned
    | CaseClosed
    | CaseReopened
    | PlanAgreed
    | ReferralUpdated
    | FollowUpScheduled
    | ReintegrationAssessed
)
"""What happened in a reintegration case after it opened (reintegration); no personal data."""

ExpectationEvent = ReturneeExpected | ExpectedArrivalClosed
"""People announced before a wave lands, and those closed without arriving (intake)."""

__all__ = [
    "PERSONAL_DATA_MARK",
    "ActivityLaunched",
    "AidCategory",
    "AidGranted",
    "AidPhase",
    "AssessmentKind",
    "CaseAssigned",
    "CaseClosed",
    "CaseEvent",
    "CaseReopened",
    "ChangeReason",
    "ClosureReason",
    "ConsentChanged",
    "Consents",
    "ContractModel",
    "DataProtectionEvent",
    "Dimension",
    "ErasureReason",
    "Event",
    "ExpectationClosure",
    "ExpectationEvent",
    "ExpectedArrivalClosed",
    "ExpectedPersonal",
    "FactChanges",
    "FollowUpScheduled",
    "Level",
    "Location",
    "MaliRegion",
    "Modality",
    "Money",
    "PersonalData",
    "PlanAgreed",
    "PlanItemStatus",
    "PlanItemSummary",
    "Provider",
    "ReceptionCentre",
    "ReferralStatus",
    "ReferralUpdated",
    "RegistrationFacts",
    "RegistrationField",
    "ReintegrationAssessed",
    "ReopeningReason",
    "ReturnType",
    "ReturneeErased",
    "ReturneeExpected",
    "ReturneeMerged",
    "ReturneeRegistered",
    "ReturneeRegisteredV2",
    "ReturneeUpdated",
    "SealedPersonal",
    "Sector",
    "Sex",
    "Share",
    "SustainabilityScores",
    "VisitOutcome",
    "Vulnerability",
]
