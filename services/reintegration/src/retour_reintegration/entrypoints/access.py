"""Who may do what: case workers, supervisors and admins read and write cases, each within
their reception centres (retour_kit.auth); analysts see aggregates in reporting, never a case."""

from typing import Annotated

from fastapi import Depends

from retour_kit.auth import Principal, Role, require_roles
from retour_reintegration.domain.actor import Actor

WRITERS = (Role.CASE_WORKER, Role.SUPERVISOR, Role.ADMIN)
READERS = WRITERS
BUDGET_OVERRIDERS = frozenset({Role.SUPERVISOR, Role.ADMIN})

Reader = Annotated[Principal, Depends(require_roles(*READERS))]
Writer = Annotated[Principal, Depends(require_roles(*WRITERS))]


def actor_of(principal: Principal) -> Actor:
    return Actor(
        subject=principal.subject,
        may_exceed_budget=not principal.roles.isdisjoint(BUDGET_OVERRIDERS),
        centres=principal.centres,
    )
