"""The roster of case workers, kept from their own requests (domain/staff.py).

Each authenticated request of a case worker goes through ``saw``. A process remembers whom it
wrote and when, so the table is written at most about once an hour per case worker and process,
or at once when their token names other centres than the last one did.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime

from fastapi import FastAPI, Request

from retour_contracts import ReceptionCentre
from retour_kit.auth import Principal, Role
from retour_kit.unit_of_work import UnitOfWork
from retour_reintegration.adapters.unit_of_work import CaseWork
from retour_reintegration.domain.staff import CaseWorkerSeen

_STATE = "case_worker_roster"


class CaseWorkerRosterKeeper:
    def __init__(
        self,
        work: UnitOfWork[CaseWork],
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        capacity: int = 10_000,
    ) -> None:
        self._work = work
        self._clock = clock
        self._capacity = capacity
        self._written: OrderedDict[str, CaseWorkerSeen] = OrderedDict()

    async def saw(self, principal: Principal) -> None:
        if Role.CASE_WORKER not in principal.roles:
            return
        centres = frozenset(ReceptionCentre) if principal.centres is None else principal.centres
        seen = CaseWorkerSeen(principal.subject, centres, self._clock())
        if seen.same_as(self._written.get(seen.subject)):
            return
        # A transaction of its own, before the request's: an assignment that follows in this
        # request (a case worker taking a case) finds them on the roster.
        async with self._work.transaction() as adapters:
            await adapters.roster.record(seen)
        self._written[seen.subject] = seen
        self._written.move_to_end(seen.subject)
        if len(self._written) > self._capacity:
            self._written.popitem(last=False)


def install_roster(app: FastAPI, work: UnitOfWork[CaseWork]) -> None:
    setattr(app.state, _STATE, CaseWorkerRosterKeeper(work))


def roster_of(request: Request) -> CaseWorkerRosterKeeper:
    keeper = getattr(request.app.state, _STATE, None)
    if not isinstance(keeper, CaseWorkerRosterKeeper):
        raise RuntimeError("no case worker roster on app.state: wire() installs it")
    return keeper
