from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from uuid import UUID

from retour_contracts import RegistrationFacts
from retour_reintegration.domain.case import Case
from retour_reintegration.domain.closure import closed_event
from retour_reintegration.domain.corrections import Correction
from retour_reintegration.domain.merges import Merge
from retour_reintegration.usecases.follow_ups import (
    Lifecycle,
    reschedule_visits,
    schedule_visits,
)
from retour_reintegration.usecases.ports import CaseRepository


async def open_cases(
    cases: CaseRepository,
    registrations: Sequence[RegistrationFacts],
    *,
    lifecycle: Lifecycle | None = None,
) -> int:
    """Opens a case per returnee of a consumer batch; returns how many were new.

    With ``lifecycle`` (the consumer always gives it), each new case's visits are scheduled and
    published, and a duplicate registration's case closing as it opens publishes case.closed.
    Without, the cases alone are stored (tools and tests of storage)."""
    new = set(await cases.add_many([Case.open_for(r) for r in registrations]))
    opened = {r.returnee_id: Case.open_for(r) for r in registrations if r.returnee_id in new}
    # Corrections and merges read before their registration (other topics, so possibly first)
    # waited for the case: it opens with them applied, a duplicate's closed, in this same
    # transaction, so it is never seen open. Usually there are none: two cheap reads.
    returnee_ids = [r.returnee_id for r in registrations]
    waiting = await cases.corrections_of(returnee_ids)
    merges = await cases.merges_of(returnee_ids)
    locked: dict[UUID, Case] = {}
    if waiting or merges:
        # One locking statement for both, in id order (see CaseRepository.lock_many).
        locked = await cases.lock_many(sorted(set(waiting) | set(merges)))
        for returnee_id, (_, corrected) in (await _correct(cases, locked, waiting)).items():
            locked[returnee_id] = corrected
            if returnee_id in opened:
                opened[returnee_id] = corrected
    if lifecycle is not None:
        # Before a duplicate's closure: its events then read as they would had the merge come
        # after the registration (visits scheduled, then the case closed), whatever the order.
        await schedule_visits(lifecycle, list(opened.values()))
    if merges:
        await close_duplicates(cases, locked, merges, lifecycle)
    return len(new)


@dataclass(frozen=True)
class CorrectionsApplied:
    kept: int
    """Corrections new to the service (a version already kept is not counted)."""
    changed: int
    """Cases whose facts changed (a transfer moved the case to another centre)."""
    waiting: int
    """Corrections whose case is not open yet: applied when its registration is read."""


async def apply_corrections(
    cases: CaseRepository,
    corrections: Sequence[Correction],
    *,
    lifecycle: Lifecycle | None = None,
) -> CorrectionsApplied:
    """Keeps the corrections of a consumer batch and brings their cases' facts up to date;
    with ``lifecycle``, the visits of the cases moved or re-dated follow (see open_cases)."""
    if not corrections:
        return CorrectionsApplied(kept=0, changed=0, waiting=0)
    kept = await cases.add_corrections(corrections)
    # All of each person's corrections, not only this batch's: the facts are recomputed from
    # the registration's, so an older version read late cannot undo a newer one. Every case
    # among them that exists is recomputed, open or closed.
    history = await cases.corrections_of(list({c.returnee_id for c in corrections}))
    locked = await cases.lock_many(sorted(history))
    changes = await _correct(cases, locked, history)
    if lifecycle is not None:
        await reschedule_visits(lifecycle, changes)
    waiting = sum(1 for c in corrections if c.returnee_id not in locked)
    return CorrectionsApplied(kept=kept, changed=len(changes), waiting=waiting)


async def _correct(
    cases: CaseRepository,
    locked: Mapping[UUID, Case],
    history: Mapping[UUID, Sequence[Correction]],
) -> dict[UUID, tuple[Case, Case]]:
    """Recomputes the facts of the ``locked`` cases that have corrections in ``history``;
    returns those that changed, before and after."""
    corrected = [
        case.corrected(history[returnee_id])
        for returnee_id, case in locked.items()
        if returnee_id in history
    ]
    changed = {new.returnee_id: (locked[new.returnee_id], new) for new in corrected}
    changed = {returnee_id: pair for returnee_id, pair in changed.items() if pair[0] != pair[1]}
    if changed:
        await cases.save_facts([after for _, after in changed.values()])
    return changed


async def close_duplicates(
    cases: CaseRepository,
    locked: Mapping[UUID, Case],
    merges: Mapping[UUID, Merge],
    lifecycle: Lifecycle | None,
) -> int:
    """Closes the open ``locked`` cases of registrations merged into another (``merges`` as
    kept), each published as case.closed with ``lifecycle``; returns how many it closed. A case
    closed already keeps its closure, and nothing is published for it again."""
    closing = [
        case.merged(merges[returnee_id])
        for returnee_id, case in locked.items()
        if returnee_id in merges and case.is_open
    ]
    for case in closing:
        await cases.save_closure(case)
        if lifecycle is not None:
            await lifecycle.outbox.emit(closed_event(case))
    return len(closing)
