"""Consumed events in order: registrations, aid and activities become ledger rows
(record_batch); erasures and consent changes make notifications forget, at once; corrections
(returnee.updated) change how a person is reached (correct.py); merges (returnee.merged) make
two registrations one person, contacted once (merge.py); a case's events (assignment, closure,
reopening, visits scheduled and recorded) change the visits followed (follow_ups.py).

A batch is cut at each erasure, consent change, merge or run of corrections: the events before
it are recorded, then it is applied, then the rest are recorded knowing it. The outcome is the
one of taking the events one by one, and an erasure or a merge read before the registration it
concerns (topics are read independently) still applies: what it decided is kept and applied to
whatever comes later. Case events need no registration and decide nothing about one: they are
applied together, before the next erasure, consent change or merge, or at the end of the batch.
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
from retour_notifications.domain.follow_ups import FollowUpEvent
from retour_notifications.domain.planning import Event
from retour_notifications.usecases.correct import apply_corrections
from retour_notifications.usecases.follow_ups import (
    CaseEventRead,
    FollowUpStore,
    WaitingMessages,
    apply_case_events,
)
from retour_notifications.usecases.merge import Merges, apply_merge
from retour_notifications.usecases.ports import Contacts, LedgerWriter
from retour_notifications.usecases.record import IncomingEvent, Recorded, Recording, record_batch

log = structlog.stdlib.get_logger(__name__)


@dataclass(frozen=True)
class Consumed:
    """An event as the use cases take it: sealed personal blocks opened (unseal.py)."""

    event: Event | DataProtectionEvent | OpenedUpdate | ReturneeMerged | FollowUpEvent
    event_id: UUID
    published_at: datetime


class Forgetting(Merges, Protocol):
    async def forget(self, returnee_id: UUID, erased_at: datetime) -> int: ...
    async def change_sms_consent(
        self, returnee_id: UUID, sms_contact: bool, changed_at: datetime
    ) -> int: ...
    async def refusals(self, returnee_ids: Collection[UUID]) -> Refusals: ...


class FollowUpLedger(LedgerWriter, WaitingMessages, Protocol):
    """The ledger as the consumer writes it, including cancelling what a visit no longer needs."""


async def record_events(
    batch: Sequence[Consumed],
    *,
    ledger: FollowUpLedger,
    contacts: Contacts,
    forgetting: Forgetting,
    follow_ups: FollowUpStore,
    recording: Recording,
    now: datetime,
) -> list[Recorded]:
    results: list[Recorded] = []
    pending: list[IncomingEvent] = []
    corrections: list[OpenedUpdate] = []
    case_events: list[CaseEventRead] = []

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

    async def track_pending() -> None:
        if case_events:
            await apply_case_events(
                case_events, follow_ups=follow_ups, ledger=ledger, forgetting=forgetting
            )
            case_events.clear()

    for consumed in batch:
        event = consumed.event
        if isinstance(event, FollowUpEvent):
            case_events.append(CaseEventRead(event, consumed.event_id, consumed.published_at))
            results.append(Recorded(rows=[]))  # the follow-up worker sends, when it is time
            continue
        if isinstance(event, OpenedUpdate):
            await record_pending()
            corrections.append(event)  # applied together, before the next other event
            results.append(Recorded(rows=[]))  # a correction sends nothing itself
            continue
        await correct_pending()
        if isinstance(event, ReturneeErased | ConsentChanged):
            await record_pending()
            await track_pending()
            await _apply(event, forgetting)
            results.append(Recorded(rows=[]))
        elif isinstance(event, ReturneeMerged):
            await record_pending()
            await track_pending()
            results.append(
                await apply_merge(
                    event, merges=forgetting, contacts=contacts, ledger=ledger, recording=recording
                )
            )
        else:
            pending.append(IncomingEvent(event, consumed.event_id, consumed.published_at))
    await correct_pending()
    await record_pending()
    await track_pending()
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
