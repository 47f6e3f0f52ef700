"""Who may do what: case workers, supervisors and admins read and write cases, each within
their reception centres (retour_kit.auth); supervisors and admins also assign cases and see the
case workers' workload; analysts see aggregates in reporting, never a case.

Every request of a case worker that reaches reintegration puts them on the roster of case
workers (entrypoints/staff_roster.py), which assignment draws on.
"""

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Query, Request

from retour_kit.auth import Principal, Role, require_roles
from retour_reintegration.domain.actor import Actor
from retour_reintegration.domain.errors import NotAllowed
from retour_reintegration.entrypoints.staff_roster import roster_of

WRITERS = (Role.CASE_WORKER, Role.SUPERVISOR, Role.ADMIN)
READERS = WRITERS
BUDGET_OVERRIDERS = frozenset({Role.SUPERVISOR, Role.ADMIN})
SUPERVISORS = (Role.SUPERVISOR, Role.ADMIN)
"""Assign and reassign cases, see every case worker's workload (within their centres)."""


def _staff(*roles: Role) -> Callable[..., Awaitable[Principal]]:
    """A dependency: the caller must hold one of ``roles``; a case worker is noted on the
    roster on the way (at most about once an hour: the roster's own cache)."""
    authenticated = require_roles(*roles)

    async def seen(
        request: Request, principal: Annotated[Principal, Depends(authenticated)]
    ) -> Principal:
        await roster_of(request).saw(principal)
        return principal

    return seen


as_writer = _staff(*WRITERS)
"""The dependency of a write of a case's records (entrypoints/writes.py: CaseWrite)."""
as_supervisor = _staff(*SUPERVISORS)
"""The dependency of a supervisor's read or write (Supervisor; writes.py: PartnerWrite)."""

Reader = Annotated[Principal, Depends(_staff(*READERS))]
Supervisor = Annotated[Principal, Depends(as_supervisor)]


def actor_of(principal: Principal) -> Actor:
    return Actor(
        subject=principal.subject,
        may_exceed_budget=not principal.roles.isdisjoint(BUDGET_OVERRIDERS),
        centres=principal.centres,
    )


def supervises(principal: Principal) -> bool:
    return not principal.roles.isdisjoint(SUPERVISORS)


ME = "me"
AssignedTo = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=100,
        description="`me`, or (supervisors) a case worker's user id: their cases only.",
    ),
]


def assignee_filter(principal: Principal, asked: str | None) -> str | None:
    """The case worker a listing's ``assigned_to`` names: ``me`` is the caller. A case worker
    lists their own cases this way, a supervisor anyone's."""
    if asked is None:
        return None
    subject = principal.subject if asked == ME else asked
    if subject != principal.subject and not supervises(principal):
        raise NotAllowed(
            "assignee_filter_not_allowed",
            "a case worker filters on their own cases (assigned_to=me); a supervisor on anyone's",
            field="query.assigned_to",
        )
    return subject
