"""Recording what an event calls for: rows in the delivery ledger, nothing sent yet.

Runs inside the consumer's transaction, together with the event's inbox row: the work to do
commits exactly once per event, and no gateway call can slow the Kafka partitions down.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from uuid import UUID

import structlog

from retour_contracts import ReturneeRegistered
from retour_notifications.domain.contacts import Contact, Refusals, registered_contact
from retour_notifications.domain.delivery import Notification, Status
from retour_notifications.domain.merges import for_merged_registrations, greeting_not_before
from retour_notifications.domain.planning import (
    Event,
    Intent,
    addressed_to_centre,
    contact_allows,
    event_type,
    intents,
)
from retour_notifications.domain.rules import Rule, RuleBook
from retour_notifications.usecases.compose import Composed, Composer
from retour_notifications.usecases.ports import Contacts, LedgerWriter, TemplateProblem

log = structlog.stdlib.get_logger(__name__)


@dataclass(frozen=True)
class IncomingEvent:
    event: Event
    event_id: UUID
    published_at: datetime


@dataclass(frozen=True)
class Recording:
    """What recording needs that does not change from one event to the next."""

    rules: RuleBook
    composer: Composer
    team_addresses: Mapping[str, str]
    team_language: str
    max_event_age: timedelta
    """Older events record nothing: a first deployment reading the topics from the start
    must not text every returnee about years-old events."""
    duplicate_hold: timedelta
    """How long a registration awaiting a duplicate review waits before greeting its returnee
    (DUPLICATE_HOLD_HOURS; zero: no wait)."""


@dataclass
class Recorded:
    rows: list[Notification]
    released: int = 0
    stale: bool = False


async def record_batch(
    batch: Sequence[IncomingEvent],
    *,
    ledger: LedgerWriter,
    contacts: Contacts,
    recording: Recording,
    now: datetime,
    refusals: Refusals | None = None,
) -> list[Recorded]:
    """What each event of `batch` calls for, with a handful of statements for the whole batch.

    The outcome is the one of recording the events one by one, in order (a test holds it to
    that): each message uses the contact known at its event, a registration decides the
    notifications held for its returnee, whether they were held before this batch or earlier
    in it. The database is read once before and written once after. ``refusals``: what
    erasures, consent changes and merges decided for the batch's returnees (record_events
    loads them). A registration's contact carries the corrections (returnee.updated) read
    before it. A message about a merged registration goes to the one the person keeps, and a
    registration awaiting a duplicate review greets its returnee only after the hold.
    """
    refusals = refusals or Refusals()
    planned = [
        (
            incoming,
            None if _stale(incoming, recording, now) else _intents(incoming, recording, refusals),
        )
        for incoming in batch
    ]
    registered_ids = {i.event.returnee_id for i in batch if isinstance(i.event, ReturneeRegistered)}
    needed = {
        intent.recipient.returnee_id
        for _, intents_of_event in planned
        for intent in intents_of_event or ()
        if intent.needs_contact
    }
    # As they were before this batch; the registered ones too, whose corrections a
    # registration read again must keep.
    known = await contacts.find(needed | registered_ids)
    waiting = await contacts.corrections_waiting(registered_ids)
    held_before: dict[UUID, list[Notification]] = {}
    for row in await ledger.held_for(registered_ids):
        held_before.setdefault(row.returnee_id, []).append(row)

    outcome: dict[UUID, Notification] = {}  # this batch's rows, latest version, in order
    held_here: dict[UUID, list[UUID]] = {}  # returnee -> rows of this batch held for them
    results: list[Recorded] = []
    registered: list[Contact] = []  # in batch order: a later registration wins
    for incoming, intents_of_event in planned:
        recorded = Recorded(rows=[])
        results.append(recorded)
        if isinstance(incoming.event, ReturneeRegistered):
            returnee_id = incoming.event.returnee_id
            allowed = registered_contact(
                incoming.event,
                before=known.get(returnee_id),
                waiting=waiting.get(returnee_id),
                refusals=refusals,
            )
            if allowed is None:  # erased: this person is never contacted again
                recorded.stale = intents_of_event is None
                continue
            contact = allowed
            if intents_of_event is not None:
                # Transferred before this registration was read: tell the new centre's team.
                intents_of_event = [
                    addressed_to_centre(i, contact.reception_centre, incoming.event_id)
                    for i in intents_of_event
                ]
            registered.append(contact)
            known[contact.returnee_id] = contact
            recorded.released = await _decide_held(
                held_before.pop(contact.returnee_id, []), contact, ledger, recording
            )
            recorded.released += _decide_held_here(
                outcome, held_here.pop(contact.returnee_id, []), contact, recording
            )
        if intents_of_event is None:
            recorded.stale = True
            continue
        for intent in intents_of_event:
            if intent.recipient.returnee_id in refusals.forgotten:
                continue
            contact_now = known.get(intent.recipient.returnee_id)
            new_row = _row(intent, contact_now, incoming, recording)
            if new_row is not None and new_row.status is Status.QUEUED:
                not_before = greeting_not_before(
                    incoming.event, intent, hold=recording.duplicate_hold, now=now
                )
                new_row = replace(new_row, not_before=not_before)
            if new_row is not None and new_row.notification_id not in outcome:
                recorded.rows.append(new_row)
                outcome[new_row.notification_id] = new_row
                if new_row.status is Status.HELD:
                    held_here.setdefault(new_row.returnee_id, []).append(new_row.notification_id)
    await contacts.save_all(registered)
    # Applied now (or refused with an erased person): the contact carries them from here.
    await contacts.drop_waiting(waiting.keys())
    await ledger.add(list(outcome.values()))
    return results


def _stale(incoming: IncomingEvent, recording: Recording, now: datetime) -> bool:
    return now - incoming.published_at > recording.max_event_age


def _intents(incoming: IncomingEvent, recording: Recording, refusals: Refusals) -> list[Intent]:
    planned = intents(recording.rules, incoming.event, incoming.event_id)
    return for_merged_registrations(planned, incoming.event, incoming.event_id, refusals)


def _row(
    intent: Intent, contact: Contact | None, incoming: IncomingEvent, recording: Recording
) -> Notification | None:
    row = Notification(
        notification_id=intent.notification_id,
        event_id=incoming.event_id,
        event_type=event_type(incoming.event),
        rule=intent.rule.name,
        channel=intent.rule.channel,
        recipient=intent.recipient.key,
        returnee_id=intent.recipient.returnee_id,
        template=intent.rule.template,
        status=Status.HELD,
        context=intent.context,
    )
    if not intent.needs_contact:
        address = recording.team_addresses.get(intent.recipient.centre or "")
        if address is None:
            return replace(row, status=Status.FAILED, context=None, last_error="no team address")
        return composed_row(row, intent.rule, address, recording.team_language, recording)
    if contact is None:
        # The registration has not been read yet (topics are consumed independently, so an
        # aid.granted can overtake it after an outage): decide once it arrives.
        return row
    if not contact_allows(intent.rule, contact) or contact.phone is None:
        return None
    return composed_row(row, intent.rule, contact.phone, contact.language, recording)


def composed_row(
    row: Notification, rule: Rule, address: str, language: str, recording: Recording
) -> Notification:
    """``row`` composed for ``address`` in ``language`` (or the fallback): queued, or failed
    with the reason when its template fails."""
    try:
        composed = recording.composer.compose(rule, row.context or {}, language)
    except TemplateProblem as problem:
        log.error("notification not composed", rule=rule.name, reason=str(problem))
        return replace(row, status=Status.FAILED, context=None, last_error=str(problem))
    if composed.adjustment != "none":
        log.warning("sms text adjusted to fit", rule=rule.name, adjustment=composed.adjustment)
    return _queued(row, address, composed)


def _queued(row: Notification, address: str, composed: Composed) -> Notification:
    return replace(
        row,
        status=Status.QUEUED,
        context=None,
        language=composed.language,
        address=address,
        subject=composed.subject,
        body=composed.body,
        segments=composed.segments,
        encoding=composed.encoding,
    )


async def _decide_held(
    held: list[Notification], contact: Contact, ledger: LedgerWriter, recording: Recording
) -> int:
    """Sends or drops the notifications recorded before this batch that waited for `contact`."""
    released = 0
    for row in held:
        decided = decide_held(row, contact, recording)
        if decided is None:
            await ledger.drop(row.notification_id)
        else:
            await ledger.release(decided)
            released += 1
    return released


def _decide_held_here(
    outcome: dict[UUID, Notification], held: list[UUID], contact: Contact, recording: Recording
) -> int:
    """The same for the rows of this batch held for `contact`'s returnee."""
    released = 0
    for notification_id in held:
        decided = decide_held(outcome[notification_id], contact, recording)
        if decided is None:
            del outcome[notification_id]
        else:
            outcome[notification_id] = decided
            released += 1
    return released


def decide_held(held: Notification, contact: Contact, recording: Recording) -> Notification | None:
    """A held notification composed for ``contact`` (queued, or failed if its template
    fails); None when the contact says not to send it."""
    rule = recording.rules.named(held.rule)
    if rule is None or not contact_allows(rule, contact) or contact.phone is None:
        return None
    return composed_row(held, rule, contact.phone, contact.language, recording)
