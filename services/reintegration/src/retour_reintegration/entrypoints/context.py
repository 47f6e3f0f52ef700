from dataclasses import dataclass

from retour_kit.db import Database
from retour_reintegration.domain.aid import ReintegrationBudget


@dataclass(frozen=True)
class ApiContext:
    """What the HTTP routes need, built once by the composition root."""

    database: Database
    schema: str
    budget: ReintegrationBudget
