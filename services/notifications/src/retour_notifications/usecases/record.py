"""Recording what an event calls for: rows in the delivery ledger, nothing sent yet.

Runs inside the consumer's transaction, together with the event's inbox row: the work to do
commits exactly once per event, and no gateway call can slow the Kafka partitions down.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from uuid import UUID

import structlog

from retour_contracts import Event, ReturneeRegistered
from retour_notifications.domain.contacts import Contact, contact_of
from retour_notifications.domain.delivery import Notification, Status
from retour_notifications.domain.planning import Intent, contact_allows, event_type, intents
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


@dataclass
class Recorded:
    rows: list[Notification]
    released: int = 0
    stale: bool = False


async def record_notifications(
    incoming: IncomingEvent,
    *,
    ledger: LedgerWriter,
    contacts: Contacts,
    recording: Recording,
    now: datetime,
) -> Recorded:
    recorded = Recorded(rows=[])
    event = incoming.event
    if isinstance(event, ReturneeRegistered):
        contact = contact_of(event)
        await contacts.save(contact)
        recorded.released = await _release_held(contact, ledger, recording)
    if now - incoming.published_at > recording.max_event_age:
        recorded.stale = True
        return recorded
    planned = list(intents(recording.rules, event, incoming.event_id))
    known = await contacts.find({i.recipient.returnee_id for i in planned if i.needs_contact})
    for intent in planned:
        row = _row(intent, known.get(intent.recipient.returnee_id), incoming, recording)
        if row is not None:
            recorded.rows.append(row)
    await ledger.add(recorded.rows)
    return recorded


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
        return _composed(row, intent.rule, address, recording.team_language, recording)
    if contact is None:
        # The registration has not been read yet (topics are consumed independently, so an
        # aid.granted can overtake it after an outage): decide once it arrives.
        return row
    if not contact_allows(intent.rule, contact) or contact.phone is None:
        return None
    return _composed(row, intent.rule, contact.phone, contact.language, recording)


def _composed(
    row: Notification, rule: Rule, address: str, language: str, recording: Recording
) -> Notification:
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


async def _release_held(contact: Contact, ledger: LedgerWriter, recording: Recording) -> int:
    released = 0
    for held in await ledger.held_for(contact.returnee_id):
        rule = recording.rules.named(held.rule)
        if rule is None or not contact_allows(rule, contact) or contact.phone is None:
            await ledger.drop(held.notification_id)
            continue
        await ledger.release(_composed(held, rule, contact.phone, contact.language, recording))
        released += 1
    return released
