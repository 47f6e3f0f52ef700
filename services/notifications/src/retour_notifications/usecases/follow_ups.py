"""Applying what reintegration says of a case's life (case.assigned, case.closed, case.reopened,
follow_up.scheduled, reintegration.assessed) to the visits notifications follows.

Runs in the consumer's transaction, like recording, and sends nothing: the follow-up worker
(remind.py) queues reminders and overdue emails when their time comes. What it changes now: a
visit that stops being live (recorded, or its case closed) has what still waits for it
cancelled, under the returnee's lock, so neither a reminder nor an overdue email goes out after
it. An erased person's case events are not kept (their rows went with the erasure).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

import structlog

from retour_notifications.domain.follow_ups import FollowUpEvent, FollowUps
from retour_notifications.usecases.correct import RefusalsReader

log = structlog.stdlib.get_logger(__name__)


@dataclass(frozen=True)
class CaseEventRead:
    event: FollowUpEvent
    event_id: UUID
    published_at: datetime
    """When reintegration published it (ce_time): the clock closures, reopenings and
    schedulings are compared by (domain/follow_ups.py)."""


class FollowUpStore(Protocol):
    async def load(self, returnee_ids: Collection[UUID]) -> dict[UUID, FollowUps]:
        """These returnees' cases and visits; an empty state for each one not known."""
        ...

    async def save(self, states: Sequence[FollowUps]) -> None: ...


class WaitingMessages(Protocol):
    async def cancel(self, notification_ids: Collection[UUID], reason: str) -> set[UUID]:
        """Cancels those still waiting; returns the ones that had not reached a sender."""
        ...


async def apply_case_events(
    batch: Sequence[CaseEventRead],
    *,
    follow_ups: FollowUpStore,
    ledger: WaitingMessages,
    forgetting: RefusalsReader,
) -> None:
    ids = list(dict.fromkeys(read.event.returnee_id for read in batch))
    # The lock that orders this batch with an erasure, and with the follow-up worker queueing
    # a reminder for the same person: everything below is read after it.
    refusals = await forgetting.refusals(ids)
    states = await follow_ups.load(ids)
    changed: dict[UUID, None] = {}  # in the order first read
    for read in batch:
        returnee_id = read.event.returnee_id
        if refusals.contacted_as(returnee_id) is None:
            log.info("case event skipped: the returnee was erased", returnee_id=str(returnee_id))
            continue
        states[returnee_id] = states[returnee_id].applied(
            read.event, read.event_id, read.published_at
        )
        changed[returnee_id] = None
    settled: list[FollowUps] = []
    for returnee_id in changed:
        state, stopped = states[returnee_id].settled()
        for stop in stopped:
            unsent = await ledger.cancel(stop.waiting, stop.reason)
            state = state.with_reminders_unsent(unsent)
            log.info(
                "follow-up visit stopped",
                returnee_id=str(returnee_id),
                follow_up_id=str(stop.visit.follow_up_id),
                reason=stop.reason,
                cancelled_unsent=len(unsent),
            )
        settled.append(state)
    await follow_ups.save(settled)
