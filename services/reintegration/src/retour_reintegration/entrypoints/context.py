from dataclasses import dataclass

from retour_kit.unit_of_work import UnitOfWork
from retour_reintegration.adapters.unit_of_work import CaseWork
from retour_reintegration.domain.aid import ReintegrationBudget


@dataclass(frozen=True)
class ApiContext:
    """What the HTTP routes need, built once by the composition root."""

    work: UnitOfWork[CaseWork]
    budget: ReintegrationBudget
