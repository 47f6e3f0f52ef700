"""What the use cases need from the outside world; adapters implement these on Postgres."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Protocol
from uuid import UUID

from retour_contracts import ActivityLaunched, AidCategory, AidGranted
from retour_reintegration.domain.case import Case


class CaseRepository(Protocol):
    async def add_many(self, cases: Sequence[Case]) -> int:
        """Stores the new cases; a returnee who already has a case keeps it unchanged.
        Returns how many cases were new."""
        ...

    async def lock(self, returnee_id: UUID) -> Case | None:
        """The case, locked until the transaction ends (grants and closure serialise)."""
        ...

    async def lock_shared(self, returnee_ids: Sequence[UUID]) -> dict[UUID, Case]:
        """The cases that exist among ``returnee_ids``, protected from closure meanwhile."""
        ...

    async def money_granted(
        self, returnee_id: UUID, categories: frozenset[AidCategory], currency: str
    ) -> Decimal: ...

    async def add_aid(self, aid: AidGranted, *, exceeded_budget: bool) -> None: ...

    async def aid_owners(self, aid_ids: Sequence[UUID]) -> dict[UUID, UUID]:
        """``aid_id -> returnee_id`` for the aid ids that exist."""
        ...

    async def add_activity(self, activity: ActivityLaunched, *, launched_by: str) -> None: ...

    async def save_closure(self, case: Case) -> None: ...


class EventOutbox(Protocol):
    async def emit(self, event: AidGranted | ActivityLaunched) -> None:
        """Queues ``event`` for publication when, and only if, the transaction commits."""
        ...
