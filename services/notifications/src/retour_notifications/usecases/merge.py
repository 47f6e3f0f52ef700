"""Applying returnee.merged: the person is contacted once, as the registration they keep.

Runs in the consumer's transaction, like recording. The merge is remembered for good
(``merged_returnees``), because topics are read independently: it can come before either
registration, before the aid and activities of the merged one, or again (a redelivery, a
replay); record.py applies it to whatever is read later. What it changes now:

- the merged registration's phone is no longer kept (it is never contacted as itself again);
- what still waited to be sent to it is cancelled (``MERGED``): its greeting, held for the
  duplicate review, and any message queued for its phone; a message already sent stays sent,
  and one in a sender's hands is settled by the gateway's answer (pg_ledger.CANCELLED);
- a message that was held because the merged registration had not been read yet (an aid
  that overtook it) is recorded again for the registration the person keeps, exactly as if
  its event were read after the merge.

An erasure of either registration wins: nothing is moved to an erased person.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Protocol
from uuid import UUID

import structlog

from retour_contracts import ReturneeMerged
from retour_notifications.domain.contacts import Contact, Refusals
from retour_notifications.domain.delivery import Notification
from retour_notifications.domain.merges import moved_to
from retour_notifications.usecases.ports import Contacts, LedgerWriter
from retour_notifications.usecases.record import Recorded, Recording, decide_held

log = structlog.stdlib.get_logger(__name__)


class Merges(Protocol):
    async def merge(self, returnee_id: UUID, into: UUID, merged_at: datetime) -> list[Notification]:
        """Remembers the merge (per registration, the latest decision wins), forgets the
        merged registration's phone and cancels (``MERGED``) what still waited to be sent to
        it as a returnee. Returns the cancelled notifications that were held for its
        registration, as they were, to be recorded again for the person."""
        ...

    async def refusals(self, returnee_ids: Collection[UUID]) -> Refusals:
        """Takes the per-returnee locks, then reads what erasures, consents and merges
        decided (registrations merged into are locked and read as well)."""
        ...


async def apply_merge(
    event: ReturneeMerged,
    *,
    merges: Merges,
    contacts: Contacts,
    ledger: LedgerWriter,
    recording: Recording,
) -> Recorded:
    merged = event.returnee_id
    held = await merges.merge(merged, event.merged_into, event.merged_at)
    # Read after the merge is remembered: an earlier merge of the registration it was merged
    # into (a chain) or an erasure of either decides where the held messages go, if anywhere.
    kept = (await merges.refusals([merged])).contacted_as(merged)
    moved: list[Notification] = []
    if held and kept is not None and kept != merged:
        contact = (await contacts.find([kept])).get(kept)
        moved = [row for row in (_moved(r, kept, contact, recording) for r in held) if row]
        await ledger.add(moved)
    log.info(
        "registration merged",
        returnee_id=str(merged),
        merged_into=str(event.merged_into),
        contacted_as=None if kept is None else str(kept),
        held_moved=len(moved),
    )
    return Recorded(rows=moved)


def _moved(
    held: Notification, kept: UUID, contact: Contact | None, recording: Recording
) -> Notification | None:
    row = moved_to(held, kept)
    if contact is None:
        return row  # the kept registration is not read yet either: it decides when it comes
    return decide_held(row, contact, recording)
