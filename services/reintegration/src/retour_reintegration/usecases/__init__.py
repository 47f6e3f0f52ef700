"""Use cases: each decides one command inside the caller's transaction, through ports."""

from retour_reintegration.usecases.activities import launch_activity
from retour_reintegration.usecases.aid import GrantedAid, grant_aid
from retour_reintegration.usecases.cases import (
    CorrectionsApplied,
    apply_corrections,
    close_case,
    open_cases,
)
from retour_reintegration.usecases.merges import MergesApplied, apply_merges
from retour_reintegration.usecases.ports import CaseRepository, EventOutbox

__all__ = [
    "CaseRepository",
    "CorrectionsApplied",
    "EventOutbox",
    "GrantedAid",
    "MergesApplied",
    "apply_corrections",
    "apply_merges",
    "close_case",
    "grant_aid",
    "launch_activity",
    "open_cases",
]
