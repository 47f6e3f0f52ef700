"""What the use cases need from the outside world; adapters implement these on Postgres."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Protocol
from uuid import UUID

from retour_contracts import (
    ActivityLaunched,
    AidCategory,
    AidGranted,
    CaseEvent,
    ReceptionCentre,
    Vulnerability,
)
from retour_reintegration.domain.assessments import Assessment
from retour_reintegration.domain.assignment import Assignment
from retour_reintegration.domain.case import Case
from retour_reintegration.domain.closure import Reopening
from retour_reintegration.domain.corrections import Correction
from retour_reintegration.domain.follow_up import FollowUp, Visit
from retour_reintegration.domain.merges import Merge
from retour_reintegration.domain.staff import CaseWorkerSeen


class CaseRepository(Protocol):
    async def add_many(self, cases: Sequence[Case]) -> list[UUID]:
        """Stores the new cases; a returnee who already has a case keeps it unchanged.
        Returns the returnees whose cases were new. Serialised with ``add_corrections`` and
        ``merges_for_update``: what is read after either sees what the other committed."""
        ...

    async def add_corrections(self, corrections: Sequence[Correction]) -> int:
        """Keeps the corrections, whether or not their cases are open yet; a version already
        kept for that returnee is left as it is. Returns how many were new."""
        ...

    async def corrections_of(self, returnee_ids: Sequence[UUID]) -> dict[UUID, list[Correction]]:
        """Every correction kept for these returnees (none: absent from the answer)."""
        ...

    async def lock_many(self, returnee_ids: Sequence[UUID]) -> dict[UUID, Case]:
        """The cases that exist among ``returnee_ids``, locked like ``lock``."""
        ...

    async def merges_for_update(self, returnee_ids: Sequence[UUID]) -> dict[UUID, Merge]:
        """The merges kept of ``returnee_ids`` and of the registrations merged into them,
        whether or not their cases are open yet. Merges take turns from here to the end of the
        transaction, and registrations wait for them (see ``add_many``)."""
        ...

    async def save_merges(self, merges: Sequence[Merge]) -> None:
        """Keeps the merges, replacing what was kept of the same registrations."""
        ...

    async def merges_of(self, returnee_ids: Sequence[UUID]) -> dict[UUID, Merge]:
        """The merges kept of ``returnee_ids`` (none: absent from the answer)."""
        ...

    async def save_facts(self, cases: Sequence[Case]) -> None:
        """Stores the cases' facts, current and as registered."""
        ...

    async def lock(self, returnee_id: UUID) -> Case | None:
        """The case, locked until the transaction ends (grants and closure serialise), with
        the registration it was merged into, if it was."""
        ...

    async def lock_shared(self, returnee_ids: Sequence[UUID]) -> dict[UUID, Case]:
        """The cases that exist among ``returnee_ids``, protected from closure meanwhile."""
        ...

    async def money_granted(
        self, returnee_id: UUID, categories: frozenset[AidCategory], currency: str
    ) -> Decimal:
        """What the person of this case received: under this registration, and under those
        merged into it."""
        ...

    async def add_aid(self, aid: AidGranted, *, exceeded_budget: bool) -> None: ...

    async def aid_owners(self, aid_ids: Sequence[UUID]) -> dict[UUID, UUID]:
        """``aid_id -> returnee_id`` for the aid ids that exist: the registration the aid
        counts for now (the person's, when it was granted under one merged into it)."""
        ...

    async def add_activity(self, activity: ActivityLaunched, *, launched_by: str) -> None: ...

    async def save_closure(self, case: Case) -> None: ...

    async def save_reopening(self, case: Case, reopening: Reopening) -> None:
        """Stores ``case`` open again, and ``reopening`` (with the closure it undid)."""
        ...

    async def save_assignment(self, assignment: Assignment) -> None:
        """Makes ``assignment.assigned_to`` the case's case worker, and keeps the change."""
        ...


class CaseWorkerRoster(Protocol):
    async def centres_of(self, subject: str) -> frozenset[ReceptionCentre] | None:
        """The centres of case worker ``subject`` as last seen; None: not on the roster."""
        ...

    async def record(self, seen: CaseWorkerSeen) -> None:
        """Puts the case worker on the roster, or updates their centres and last sighting."""
        ...


class FollowUpRepository(Protocol):
    async def add(self, visits: Sequence[FollowUp]) -> list[FollowUp]:
        """Stores the visits not stored yet (by ``follow_up_id``); returns those."""
        ...

    async def of_cases(self, returnee_ids: Sequence[UUID]) -> dict[UUID, list[FollowUp]]:
        """Every visit of these cases, by period (none: absent from the answer)."""
        ...

    async def save_due_dates(self, visits: Sequence[FollowUp]) -> None: ...

    async def get(self, follow_up_id: UUID) -> FollowUp | None:
        """The visit (read under its case's lock: visits change only with their case locked)."""
        ...

    async def add_visit(self, visit: Visit) -> None:
        """Keeps the visit made; a completed one completes its follow-up."""
        ...


class AssessmentRepository(Protocol):
    async def add(self, assessment: Assessment) -> None: ...

    async def vulnerabilities_found(self, returnee_id: UUID) -> list[Vulnerability]:
        """Those found by assessments since the registration."""
        ...

    async def add_vulnerabilities(
        self, assessment: Assessment, vulnerabilities: Sequence[Vulnerability]
    ) -> None:
        """Adds them to the case, as found by ``assessment``."""
        ...


class EventOutbox(Protocol):
    async def emit(self, event: AidGranted | ActivityLaunched | CaseEvent) -> None:
        """Queues ``event`` for publication when, and only if, the transaction commits."""
        ...
