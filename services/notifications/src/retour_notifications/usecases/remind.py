"""Queueing what monitoring visits call for when their time comes: the reminder SMS to the
returnee, the overdue email to the case worker (domain/follow_ups.py says when).

Each message is queued in a short transaction of its own that first takes the returnee's lock,
the one erasures, consent changes, merges and the consumer's case events take: the visit, the
person's contact and what they decided are read after it, so a reminder is never queued for
someone erased, who withdrew SMS consent, or whose visit was just recorded or case closed; and
what is queued afterwards is cancelled by them under the same lock (the send-time check). The
visit remembers the message in the same transaction, so a second worker (another replica) that
found the same visit finds it done; the ledger's key (the notification id) is the second guard.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Protocol
from uuid import UUID

from retour_notifications.domain.contacts import Refusals
from retour_notifications.domain.delivery import Notification, Status
from retour_notifications.domain.follow_ups import (
    FollowUps,
    FollowUpTimes,
    Visit,
    overdue_addressee,
    overdue_context,
    overdue_due,
    overdue_notification_id,
    reminder_context,
    reminder_due,
    reminder_notification_id,
)
from retour_notifications.domain.planning import contact_allows
from retour_notifications.domain.rules import FOLLOW_UP_SCHEDULED, Audience, Rule
from retour_notifications.usecases.correct import RefusalsReader
from retour_notifications.usecases.follow_ups import FollowUpStore
from retour_notifications.usecases.ports import Contacts, LedgerWriter
from retour_notifications.usecases.record import Recording, composed_row

NO_TEAM_ADDRESS = "no team address"


class FollowUpCandidates(FollowUpStore, Protocol):
    """(follow_up_id, returnee_id) of the visits that may call for a message: candidates only,
    each decided again under the returnee's lock."""

    async def reminders_due(
        self, after: date, until: date, limit: int
    ) -> list[tuple[UUID, UUID]]: ...

    async def overdue(self, after: date, until: date, limit: int) -> list[tuple[UUID, UUID]]: ...


class FollowUpWork(Protocol):
    """The adapters of one transaction (adapters/unit_of_work.py: LedgerWork)."""

    @property
    def follow_ups(self) -> FollowUpCandidates: ...

    @property
    def contacts(self) -> Contacts: ...

    @property
    def ledger(self) -> LedgerWriter: ...

    @property
    def forgetting(self) -> RefusalsReader: ...


class Transactions(Protocol):
    def transaction(self) -> AbstractAsyncContextManager[FollowUpWork]: ...

    def reading(self) -> AbstractAsyncContextManager[FollowUpWork]: ...


@dataclass(frozen=True)
class FollowUpSending:
    """What queueing needs that does not change from one run to the next."""

    recording: Recording
    times: FollowUpTimes
    staff_addresses: Mapping[str, str]
    """Case workers' addresses by token subject (STAFF_EMAILS)."""
    page_size: int = 100

    @property
    def reminder_rule(self) -> Rule | None:
        return self.recording.rules.for_audience(FOLLOW_UP_SCHEDULED, Audience.RETURNEE)

    @property
    def overdue_rule(self) -> Rule | None:
        return self.recording.rules.for_audience(FOLLOW_UP_SCHEDULED, Audience.CASE_WORKER)


@dataclass(frozen=True)
class Page:
    seen: int
    """Candidates looked at: a full page means there may be more."""
    queued: list[Notification]


Decide = Callable[[FollowUpWork, FollowUps, Visit, Refusals], Awaitable["Decided | None"]]
"""What a visit calls for, decided under the returnee's lock (None: nothing, for now)."""


@dataclass(frozen=True)
class Decided:
    row: Notification
    visit: Visit
    """The visit remembering the message, so that it is queued once."""


async def queue_reminders(work: Transactions, sending: FollowUpSending, now: datetime) -> Page:
    """Reminders due at ``now``, one page of candidates."""
    rule = sending.reminder_rule
    if rule is None:
        return Page(0, [])  # the rules file sends none
    after, until = sending.times.reminder_window(now)

    async def remind(
        adapters: FollowUpWork, state: FollowUps, visit: Visit, refusals: Refusals
    ) -> Decided | None:
        if not reminder_due(visit, state.case, sending.times, now):
            return None  # recorded, closed or reminded since it was found
        returnee_id = visit.returnee_id
        if refusals.contacted_as(returnee_id) != returnee_id:
            return None  # erased, or merged into another registration (whose case is followed)
        contact = (await adapters.contacts.find([returnee_id])).get(returnee_id)
        if contact is None or contact.phone is None or not contact_allows(rule, contact):
            return None  # not registered yet, or not to be texted: looked at again next time
        held = _row(visit, rule, reminder_notification_id(visit), f"returnee:{returnee_id}")
        row = composed_row(
            replace(held, context=reminder_context(visit)),
            rule,
            contact.phone,
            contact.language,
            sending.recording,
        )
        return Decided(row, replace(visit, reminder_id=row.notification_id))

    async with work.reading() as reads:
        candidates = await reads.follow_ups.reminders_due(after, until, sending.page_size)
    return await _each(work, candidates, remind)


async def queue_overdue(work: Transactions, sending: FollowUpSending, now: datetime) -> Page:
    """Overdue emails due at ``now``, one page of candidates."""
    rule = sending.overdue_rule
    if rule is None:
        return Page(0, [])
    recording = sending.recording

    async def chase(
        adapters: FollowUpWork, state: FollowUps, visit: Visit, refusals: Refusals
    ) -> Decided | None:
        if visit.schedule is None or not overdue_due(visit, state.case, sending.times, now):
            return None
        if refusals.contacted_as(visit.returnee_id) is None:
            return None  # erased: nothing more is said about them, to anyone
        addressee = overdue_addressee(
            state.case,
            visit.schedule.reception_centre,
            staff_addresses=sending.staff_addresses,
            team_addresses=recording.team_addresses,
        )
        held = replace(
            _row(visit, rule, overdue_notification_id(visit.follow_up_id), addressee.recipient),
            context=overdue_context(visit, addressee, now),
        )
        if addressee.address is None:
            row = replace(held, status=Status.FAILED, context=None, last_error=NO_TEAM_ADDRESS)
        else:
            row = composed_row(held, rule, addressee.address, recording.team_language, recording)
        return Decided(row, replace(visit, overdue_id=row.notification_id))

    async with work.reading() as reads:
        after, until = sending.times.overdue_window(now)
        candidates = await reads.follow_ups.overdue(after, until, sending.page_size)
    return await _each(work, candidates, chase)


async def _each(work: Transactions, candidates: list[tuple[UUID, UUID]], decide: Decide) -> Page:
    """Each candidate in a transaction of its own: the returnee's lock first, then the visit
    read again and decided, and what it calls for queued and remembered together."""
    queued = []
    for follow_up_id, returnee_id in candidates:
        async with work.transaction() as adapters:
            refusals = await adapters.forgetting.refusals([returnee_id])  # the lock, first
            state = (await adapters.follow_ups.load([returnee_id]))[returnee_id]
            visit = state.visits.get(follow_up_id)
            decided = None if visit is None else await decide(adapters, state, visit, refusals)
            if decided is not None:
                await adapters.ledger.add([decided.row])
                await adapters.follow_ups.save([state.with_visit(decided.visit)])
                queued.append(decided.row)
    return Page(len(candidates), queued)


def _row(visit: Visit, rule: Rule, notification_id: UUID, recipient: str) -> Notification:
    assert visit.schedule is not None
    return Notification(
        notification_id=notification_id,
        event_id=visit.schedule.event_id,
        event_type=FOLLOW_UP_SCHEDULED,
        rule=rule.name,
        channel=rule.channel,
        recipient=recipient,
        returnee_id=visit.returnee_id,
        template=rule.template,
        status=Status.HELD,
    )
