"""What reporting keeps of a merge (``returnee.merged``): registration ``returnee_id`` is the
same person as registration ``merged_into``, and from then on the person is counted once, as
``merged_into``.

Merges travel on their own topic, so one may be read before either registration, before or
after the merged registration's aid and activities, twice, or as a link of a chain: intake
merges X into B, later B into A, and then publishes X into A too (it never leaves a chain, but
a consumer may read the links in any order). Reporting therefore keeps every merge as a fact,
the newest per merged registration, and derives from all of them whom each merged
registration counts as: the end of its chain. Rows are never rewritten; reports look up whom a
row counts as when they read it, so every order of the same events ends in the same rows.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import datetime
from typing import NamedTuple
from uuid import UUID

from retour_contracts import ReturneeMerged


class Merge(NamedTuple):
    returnee_id: UUID
    """The merged (later) registration."""
    merged_into: UUID
    """The registration it was merged into; itself perhaps merged later (a chain)."""
    merged_at: datetime


class KeptMerge(NamedTuple):
    """A merge as the projections keep it, with whom its registration counts as."""

    returnee_id: UUID
    merged_into: UUID
    counted_as: UUID


def merge_of(event: ReturneeMerged) -> Merge:
    # ``merged_by`` (a supervisor) is left out: no report names who decided.
    return Merge(event.returnee_id, event.merged_into, event.merged_at)


def supersedes(new: Merge, kept: Merge) -> bool:
    """Whether ``new`` replaces ``kept`` (the same merged registration): the later decision
    wins (X into B, then X into A when B was merged into A), and of two decisions at the same
    moment the greater target, so the choice never depends on the order they are read in.
    The same merge read again replaces nothing. The projection store applies the same rule
    in SQL (a row comparison of ``merged_at, merged_into``; uuids compare as their integers)."""
    return (new.merged_at, new.merged_into) > (kept.merged_at, kept.merged_into)


def newest(merges: Iterable[Merge]) -> list[Merge]:
    """The merge kept for each merged registration among ``merges``."""
    kept: dict[UUID, Merge] = {}
    for merge in merges:
        held = kept.get(merge.returnee_id)
        if held is None or supersedes(merge, held):
            kept[merge.returnee_id] = merge
    return list(kept.values())


def counted_as(merges: Mapping[UUID, UUID]) -> dict[UUID, UUID]:
    """Whom each merged registration counts as, from the kept merges (merged registration ->
    the registration it was merged into): the end of its chain, a registration not merged
    into anyone. Intake merges a later registration into an earlier one, so there is no cycle;
    were there one, its smallest registration would count for all of it, and none of its
    registrations would count twice or vanish from the reports."""
    ends: dict[UUID, UUID] = {}
    for start in merges:
        if start in ends:
            continue
        path = [start]
        seen = {start}
        current = merges[start]
        while current in merges and current not in ends and current not in seen:
            path.append(current)
            seen.add(current)
            current = merges[current]
        if current in ends:
            end = ends[current]
        elif current in seen:  # a cycle: ``current`` is where the path closed it
            end = min(path[path.index(current) :])
        else:
            end = current
        for member in path:
            ends[member] = end
    return ends


def recounted(kept: Collection[KeptMerge]) -> dict[UUID, UUID]:
    """The kept merges whose registration the chains now count as someone else than recorded:
    merged registration -> whom it counts as."""
    ends = counted_as({merge.returnee_id: merge.merged_into for merge in kept})
    return {
        merge.returnee_id: ends[merge.returnee_id]
        for merge in kept
        if ends[merge.returnee_id] != merge.counted_as
    }
