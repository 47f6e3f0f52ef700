"""Use cases: each decides one command inside the caller's transaction, through ports."""

from retour_reintegration.usecases.activities import launch_activity
from retour_reintegration.usecases.aid import GrantedAid, grant_aid
from retour_reintegration.usecases.assessments import record_assessment
from retour_reintegration.usecases.assignments import assign_case
from retour_reintegration.usecases.cases import (
    CorrectionsApplied,
    apply_corrections,
    open_cases,
)
from retour_reintegration.usecases.closure import close_case, reopen_case
from retour_reintegration.usecases.follow_ups import Lifecycle, record_follow_up_visit
from retour_reintegration.usecases.merges import MergesApplied, apply_merges
from retour_reintegration.usecases.ports import CaseRepository, EventOutbox

__all__ = [
    "CaseRepository",
    "CorrectionsApplied",
    "EventOutbox",
    "GrantedAid",
    "Lifecycle",
    "MergesApplied",
    "apply_corrections",
    "apply_merges",
    "assign_case",
    "close_case",
    "grant_aid",
    "launch_activity",
    "open_cases",
    "record_assessment",
    "record_follow_up_visit",
    "reopen_case",
]
