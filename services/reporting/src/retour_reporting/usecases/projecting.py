"""Apply a batch of events to the projections, corrections and merges included, in the
batch's transaction.

A registration (``returnee.registered``) and the corrections of the same person
(``returnee.updated``) come from two topics, so they may be applied at the same moment by two
transactions: two partitions side by side, two members of the group, a rebuild beside the live
consumer. Each would miss what the other has not committed yet: the registration would not see
the change, and the change would not find the registration row. So a transaction that writes
registrations or changes first takes the store's registration lock, and only then reads:
registrations share it among themselves (a replay applies them side by side), corrections take
it alone (they are rare). Whichever comes second then sees what the first committed, in either
order.

Merges (``returnee.merged``) rewrite no row of registrations, aid or activities: each is kept
as a fact, and with it whom its merged registration counts as, the end of its chain, which
reports read beside every row (``domain/merges.py``). That end depends on every other merge,
so merges take the lock alone too: the partitions of the merge topic, or a rebuild beside the
live consumer, would otherwise each settle their chains without the links the other has not
committed (X into B here, B into A there, and X would count as B). Registrations, aid and
activities never need to know about merges when they are written, so an aid batch for a merged
registration, applied at the same moment as its merge, cannot escape it: it takes no lock.

The events of a case's life take no lock either: each is a row of its own, compared only with
the row of the same business id (a referral's newer status, a visit's newer schedule), which
the row's own lock settles; reports join them to registrations and merges when they read.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from uuid import UUID

from retour_reporting.domain.corrections import FieldChange
from retour_reporting.domain.merges import Merge, recounted
from retour_reporting.domain.projection import ProjectionRows, corrected
from retour_reporting.usecases.ports import ProjectionStore


async def apply_rows(store: ProjectionStore, rows: ProjectionRows) -> None:
    if not (rows.registrations or rows.changes or rows.merges):
        await store.write(rows)  # aid, activities, case events: keyed by their own ids, no lock
        return
    await store.lock_registrations(exclusive=bool(rows.changes or rows.merges))
    if rows.merges:
        await _record_merges(store, rows.merges)
    if rows.registrations or rows.changes:
        await _apply_registrations(store, rows)
    else:
        await store.write(rows)


async def _record_merges(store: ProjectionStore, merges: list[Merge]) -> None:
    # Every chain is settled again, not just the batch's: a merge read late may be a middle
    # link (B into A read after X into B), or replace the merge kept for its registration.
    # Merges are a few per cent of registrations, read in rare batches: one read of them all.
    await store.record_merges(merges)
    moved = recounted(await store.merges())
    if moved:
        await store.count_as(moved)


async def _apply_registrations(store: ProjectionStore, rows: ProjectionRows) -> None:
    if rows.changes:
        await store.record_changes(rows.changes)
    people = {row.returnee_id for row in rows.registrations}
    people |= {change.returnee_id for change in rows.changes}
    kept = _by_person(await store.changes_of(people))
    # A registration read after its corrections is written with them already applied.
    registrations = [corrected(row, kept[row.returnee_id]) for row in rows.registrations]
    await store.write(replace(rows, registrations=registrations))
    if rows.changes:
        await _correct_registered(store, kept, {change.returnee_id for change in rows.changes})


async def _correct_registered(
    store: ProjectionStore, kept: dict[UUID, list[FieldChange]], people: set[UUID]
) -> None:
    # The newest kept changes, not just this batch's: an older change arriving late was
    # refused by record_changes, and re-applying the newest ones then changes nothing.
    changed = []
    for row in await store.registrations_of(people):
        new = corrected(row, kept.get(row.returnee_id, []))
        if new != row:
            changed.append(new)
    if changed:
        await store.replace_registrations(changed)


def _by_person(changes: list[FieldChange]) -> defaultdict[UUID, list[FieldChange]]:
    grouped: defaultdict[UUID, list[FieldChange]] = defaultdict(list)
    for change in changes:
        grouped[change.returnee_id].append(change)
    return grouped
