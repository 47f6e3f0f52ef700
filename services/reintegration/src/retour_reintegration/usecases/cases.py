from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from retour_contracts import RegistrationFacts
from retour_reintegration.domain.actor import Actor
from retour_reintegration.domain.case import Case, ClosureReason
from retour_reintegration.domain.corrections import Correction
from retour_reintegration.domain.errors import CaseNotFound
from retour_reintegration.domain.merges import Merge
from retour_reintegration.usecases.ports import CaseRepository


async def open_cases(cases: CaseRepository, registrations: Sequence[RegistrationFacts]) -> int:
    """Opens a case per returnee of a consumer batch; returns how many were new."""
    opened = await cases.add_many([Case.open_for(registration) for registration in registrations])
    # Corrections and merges read before their registration (other topics, so possibly first)
    # waited for the case: it opens with them applied, a duplicate's closed, in this same
    # transaction, so it is never seen open. Usually there are none: two cheap reads.
    returnee_ids = [r.returnee_id for r in registrations]
    waiting = await cases.corrections_of(returnee_ids)
    merges = await cases.merges_of(returnee_ids)
    if waiting or merges:
        # One locking statement for both, in id order (see CaseRepository.lock_many).
        locked = await cases.lock_many(sorted(set(waiting) | set(merges)))
        await _correct(cases, locked, waiting)
        await close_duplicates(cases, locked, merges)
    return opened


@dataclass(frozen=True)
class CorrectionsApplied:
    kept: int
    """Corrections new to the service (a version already kept is not counted)."""
    changed: int
    """Cases whose facts changed (a transfer moved the case to another centre)."""
    waiting: int
    """Corrections whose case is not open yet: applied when its registration is read."""


async def apply_corrections(
    cases: CaseRepository, corrections: Sequence[Correction]
) -> CorrectionsApplied:
    """Keeps the corrections of a consumer batch and brings their cases' facts up to date."""
    if not corrections:
        return CorrectionsApplied(kept=0, changed=0, waiting=0)
    kept = await cases.add_corrections(corrections)
    # All of each person's corrections, not only this batch's: the facts are recomputed from
    # the registration's, so an older version read late cannot undo a newer one.
    history = await cases.corrections_of(list({c.returnee_id for c in corrections}))
    changed, open_ids = await _apply(cases, history)
    waiting = sum(1 for c in corrections if c.returnee_id not in open_ids)
    return CorrectionsApplied(kept=kept, changed=changed, waiting=waiting)


async def _apply(
    cases: CaseRepository, history: Mapping[UUID, Sequence[Correction]]
) -> tuple[int, set[UUID]]:
    """Recomputes the facts of the cases among ``history``'s that exist, open or closed;
    returns how many changed, and which exist."""
    locked = await cases.lock_many(sorted(history))
    return await _correct(cases, locked, history), set(locked)


async def _correct(
    cases: CaseRepository,
    locked: Mapping[UUID, Case],
    history: Mapping[UUID, Sequence[Correction]],
) -> int:
    """Recomputes the facts of the ``locked`` cases that have corrections in ``history``;
    returns how many changed."""
    corrected = [
        case.corrected(history[returnee_id])
        for returnee_id, case in locked.items()
        if returnee_id in history
    ]
    changed = [new for new in corrected if new != locked[new.returnee_id]]
    if changed:
        await cases.save_facts(changed)
    return len(changed)


async def close_duplicates(
    cases: CaseRepository, locked: Mapping[UUID, Case], merges: Mapping[UUID, Merge]
) -> int:
    """Closes the open ``locked`` cases of registrations merged into another (``merges`` as
    kept); returns how many it closed. A case closed already keeps its closure."""
    closing = [
        case.merged(merges[returnee_id])
        for returnee_id, case in locked.items()
        if returnee_id in merges and case.is_open
    ]
    for case in closing:
        await cases.save_closure(case)
    return len(closing)


async def close_case(
    cases: CaseRepository,
    *,
    returnee_id: UUID,
    reason: ClosureReason,
    actor: Actor,
    now: datetime,
) -> Case:
    case = await cases.lock(returnee_id)
    # Another centre's case is not found rather than forbidden: need-to-know covers knowing
    # that the person has a case at all.
    if case is None or not actor.works_at(case.reception_centre):
        raise CaseNotFound([returnee_id])
    closed = case.close(reason, at=now, by=actor.subject)
    await cases.save_closure(closed)
    return closed
