"""Merges of duplicate registrations (returnee.merged): the duplicate's case closes, and what
was granted under it counts for the person's case."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from retour_reintegration.domain.merges import Merge, merge_registrations
from retour_reintegration.usecases.cases import close_duplicates
from retour_reintegration.usecases.follow_ups import Lifecycle
from retour_reintegration.usecases.ports import CaseRepository


@dataclass(frozen=True)
class MergesApplied:
    kept: int
    """Registrations whose merge is new or changed (a redelivered merge is not counted; a
    chain extended counts each registration it moved)."""
    closed: int
    """Cases closed as duplicate registrations."""
    waiting: int
    """Merged registrations with no case yet: it opens closed when its registration is read."""
    refused: int
    """Merges that would have made a registration the duplicate of itself."""


async def apply_merges(
    cases: CaseRepository, merges: Sequence[Merge], *, lifecycle: Lifecycle | None = None
) -> MergesApplied:
    """Keeps the merges of a consumer batch and closes the duplicates' cases, each published
    as case.closed (duplicate_registration) with ``lifecycle`` (the consumer always gives it).

    Nothing is moved: aid and activities stay as granted, and the person's case counts those
    of every registration kept as merged into it (CaseRepository.money_granted, the views).
    So the person's case need not be open, nor exist yet, and no aid or activity event is
    published again.
    """
    if not merges:
        return MergesApplied(kept=0, closed=0, waiting=0, refused=0)
    named = {m.returnee_id for m in merges} | {m.merged_into for m in merges}
    kept = merge_registrations(await cases.merges_for_update(sorted(named)), merges)
    if kept.changed:
        await cases.save_merges(kept.changed)
    duplicates = {m.returnee_id for m in merges} & set(kept.kept)
    persons = {kept.kept[duplicate].merged_into for duplicate in duplicates}
    # The persons' cases are locked too, in the same statement (id order): their budgets now
    # count the duplicates' aid, so a grant to one of them in progress finishes before the
    # merge applies, or starts after it, never halfway.
    locked = await cases.lock_many(sorted(duplicates | persons))
    closed = await close_duplicates(cases, locked, kept.kept, lifecycle)
    return MergesApplied(
        kept=len(kept.changed),
        closed=closed,
        waiting=len(duplicates - set(locked)),
        refused=kept.refused,
    )
