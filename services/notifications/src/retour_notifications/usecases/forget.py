"""Consumed events in order: registrations, aid and activities become ledger rows
(record_batch); erasures and consent changes make notifications forget, at once; corrections
(returnee.updated) change how a person is reached (correct.py); merges (returnee.merged) make
two registrations one person, contacted once (merge.py).

A batch is cut at each erasure, consent change, merge or run of corrections: the events before
it are recorded, then it is applied, then the rest are recorded knowing it. The outcome is the
one of taking the events one by one, and an erasure or a merge read before the registration it
concerns (topics are read independently) still applies: what it decided is kept and applied to
whatever comes later.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

import structlog

from retour_contracts import (
    ActivityLaunched,
    ConsentChanged,
    DataProtectionEvent,
    ReturneeErased,
    ReturneeMerged,
)
from retour_notifications.domain.contacts import Refusals
from retour_notifications.domain.corrections import OpenedUpdate
from retour_notifications.domain.planning import Event
from retour_notifications.usecases.correct import apply_corrections
from retour_notifications.usecases.merge import Merges, apply_merge
from retour_notifications.usecases.ports import Contacts, LedgerWriter
from retour_notifications.usecases.record import IncomingEvent, Recorded, Recording, record_batch

log = structlog.stdlib.get_logger(__name__)


@dataclass(frozen=True)
class Consumed:
    """An event as the use cases take it: sealed personal blocks opened (unseal.py)."""

    event: Event | DataProtectionEvent | OpenedUpdate | ReturneeMerged
    event_id: UUID
    published_at: datetime


class Forgetting(Merges, Protocol):
    async def forget(self, returnee_id: UUID, erased_at: datetime) -> int: ...
    async def change_sms_consent(
        self, returnee_id: UUID, sms_contact: bool, changed_at: datetime
    ) -> int: ...
    async def refusals(self, returnee_ids: Collection[UUID]) -> Refusals: ...


async def record_events(
    batch: Sequence[Consumed],
    *,
    ledger: LedgerWriter,
    contacts: Contacts,
    forgetting: Forgetting,
    recording: Recording,
    now: datetime,
) -> list[Recorded]:
    results: list[Recorded] = []
    pending: list[IncomingEvent] = []
    corrections: list[OpenedUpdate] = []

    async def record_pending() -> None:
        if pending:
            refusals = await forgetting.refusals(_returnees_of(pending))
            results.extend(
                await record_batch(
                    pending,
                    ledger=ledger,
                    contacts=contacts,
                    recording=recording,
                    now=now,
                    refusals=refusals,
                )
            )
            pending.clear()

    async def correct_pending() -> None:
        if corrections:
            await apply_corrections(
                corrections, contacts=contacts, ledger=ledger, forgetting=forgetting
            )
            corrections.clear()

    for consumed in batch:
        event = consumed.event
        if isinstance(event, OpenedUpdate):
            await record_pending()
            corrections.append(event)  # applied together, before the next other event
            results.append(Recorded(rows=[]))  # a correction sends nothing itself
            continue
        await correct_pending()
        if isinstance(event, ReturneeErased | ConsentChanged):
            await record_pending()
            await _apply(event, forgetting)
            results.append(Recorded(rows=[]))
        elif isinstance(event, ReturneeMerged):
            await record_pending()
            results.append(
                await apply_merge(
                    event, merges=forgetting, contacts=contacts, ledger=ledger, recording=recording
                )
            )
        else:
            pending.append(IncomingEvent(event, consumed.event_id, consumed.published_at))
    await correct_pending()
    await record_pending()
    return results


async def _apply(event: ReturneeErased | ConsentChanged, forgetting: Forgetting) -> None:
    if isinstance(event, ReturneeErased):
        cancelled = await forgetting.forget(event.returnee_id, event.erased_at)
        log.info("returnee forgotten", returnee_id=str(event.returnee_id), cancelled=cancelled)
    elif event.sms_contact is not None:
        cancelled = await forgetting.change_sms_consent(
            event.returnee_id, event.sms_contact, event.changed_at
        )
        log.info(
            "sms consent changed",
            returnee_id=str(event.returnee_id),
            sms_contact=event.sms_contact,
            cancelled=cancelled,
        )
    # partner_sharing: notifications shares nothing with partners, so nothing changes here.


def _returnees_of(batch: Sequence[IncomingEvent]) -> set[UUID]:
    ids: set[UUID] = set()
    for incoming in batch:
        event = incoming.event
        if isinstance(event, ActivityLaunched):
            ids.update(event.returnee_ids)
        else:
            ids.add(event.returnee_id)
    return ids
