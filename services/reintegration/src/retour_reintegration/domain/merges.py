"""Two registrations found to be one person (``returnee.merged``), as cases see it.

intake publishes ``returnee.merged`` when a supervisor decides that registration
``returnee_id`` (the later one, a duplicate) is the same person as ``merged_into``. From then
on the person is served once: the duplicate's case closes as a duplicate registration, and
what was granted under it counts for the person's case.

Nothing is copied or rewritten: the aid and activities stay recorded as granted (as their
events said), and each registration is mapped to the one the person is counted as now. That
mapping is kept whether or not either case is open yet, so it does not matter whether a merge
is read before or after the registrations, the aid, or the activities it concerns, nor twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from uuid import UUID

from retour_contracts import Money, ReturneeMerged, Share


@dataclass(frozen=True)
class Merge:
    """Registration ``returnee_id`` is the person of registration ``merged_into``.

    As read from an event, ``merged_into`` is what the supervisor chose; as kept
    (``merge_registrations``), it is the registration the person is counted as now, at the end
    of any chain, and ``merged_at``/``merged_by`` are those of the first decision about
    ``returnee_id``: when its case became a duplicate, and who decided.
    """

    returnee_id: UUID
    merged_into: UUID
    merged_at: datetime
    merged_by: str

    def __post_init__(self) -> None:
        if self.returnee_id == self.merged_into:
            raise ValueError("a registration is not merged into itself")

    @classmethod
    def of(cls, event: ReturneeMerged) -> Merge:
        return cls(
            returnee_id=event.returnee_id,
            merged_into=event.merged_into,
            merged_at=event.merged_at,
            merged_by=event.merged_by,
        )


@dataclass(frozen=True)
class MergesKept:
    kept: dict[UUID, Merge]
    """What is kept now of every registration ``merge_registrations`` was given or told about."""
    changed: list[Merge]
    """The entries of ``kept`` that are new or different: what to store."""
    refused: int
    """Merges that would make a registration the duplicate of itself (a cycle)."""


def merge_registrations(known: Mapping[UUID, Merge], merges: Iterable[Merge]) -> MergesKept:
    """The merges kept once ``merges`` are added to the ``known`` ones.

    ``known`` must hold what is kept of every registration ``merges`` name, and of those merged
    into them. Every kept ``merged_into`` is the end of its chain (a registration merged into
    nothing): when B is merged into A, what was merged into B is now A's too, and a merge into
    B read after B's own merge goes to A. intake also publishes the direct merge (X into A when
    X was B's and B is merged into A): it changes nothing more. So each registration ends
    counted as the same one whatever order its merges are read in, and reading one twice
    changes nothing.
    """
    kept = dict(known)
    refused = 0
    for merge in sorted(merges, key=lambda m: (m.merged_at, m.returnee_id.int)):
        into = kept.get(merge.merged_into)
        person = merge.merged_into if into is None else into.merged_into
        if person == merge.returnee_id:
            # B into A after A into B: intake never decides both; taking it would leave the
            # person with no case to be counted as. The first decision stands.
            refused += 1
            continue
        earlier = kept.get(merge.returnee_id)
        first = earlier if earlier is not None and earlier.merged_at <= merge.merged_at else merge
        kept[merge.returnee_id] = replace(first, merged_into=person)
        for other in list(kept.values()):
            if other.merged_into == merge.returnee_id:
                kept[other.returnee_id] = replace(other, merged_into=person)
    changed = [merge for returnee_id, merge in kept.items() if known.get(returnee_id) != merge]
    return MergesKept(kept=kept, changed=changed, refused=refused)


def counted_once(
    returnee_ids: Sequence[UUID], shares: Sequence[Share]
) -> tuple[list[UUID], list[Share]]:
    """An activity's participants and shares as the people they are now.

    ``returnee_ids`` and ``shares`` name each participant by the registration they are counted
    as (a merged one replaced by its person): a person who took part under two registrations
    later merged is listed once, where they first appear, with one share adding up both.
    """
    participants = list(dict.fromkeys(returnee_ids))
    totals: dict[UUID, Money] = {}
    for share in shares:
        before = totals.get(share.returnee_id)
        if before is None:
            totals[share.returnee_id] = share.amount
        else:
            # One activity's shares are all in its funding's currency (check_shares).
            total = before.amount + share.amount.amount
            totals[share.returnee_id] = Money(amount=total, currency=before.currency)
    return participants, [Share(returnee_id=r, amount=a) for r, a in totals.items()]
