"""Which notifications an event calls for: one per rule that applies and per recipient."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any
from uuid import UUID, uuid5

from retour_contracts import ActivityLaunched, AidGranted, Money, ReturneeRegistered
from retour_notifications.domain.contacts import Contact
from retour_notifications.domain.rules import (
    ACTIVITY_LAUNCHED,
    AID_GRANTED,
    REGISTERED,
    Audience,
    Channel,
    Condition,
    Rule,
    RuleBook,
)

Event = ReturneeRegistered | AidGranted | ActivityLaunched
"""A business event as notifications plans from it: a registration's personal block opened
(usecases/unseal.py), so the phone it may carry is at hand."""

# Fixed forever: changing it would give every past notification a new id, and a replay of old
# events would then send them all again.
NOTIFICATION_NAMESPACE = UUID("6f1d3c2a-9b7e-5d40-8c1f-2a3b4c5d6e7f")


def notification_id(event_id: UUID, recipient: str, channel: Channel) -> UUID:
    """The same event, recipient and channel always give the same id, whichever consumer
    group, instance or replay computes it: the ledger's primary key turns every redelivery
    into a no-op."""
    return uuid5(NOTIFICATION_NAMESPACE, f"{event_id}/{recipient}/{channel.value}")


@dataclass(frozen=True)
class Recipient:
    audience: Audience
    key: str
    """``returnee:<id>`` or ``centre_team:<centre>``: who, never an address."""
    returnee_id: UUID
    """Whose case the notification belongs to."""
    centre: str | None = None
    """The reception centre, for a centre team."""


@dataclass(frozen=True)
class Intent:
    """A rule that applies to one recipient, as far as the event alone can tell."""

    notification_id: UUID
    rule: Rule
    recipient: Recipient
    context: dict[str, Any]
    """Template variables, JSON-ready and free of personal data."""

    @property
    def needs_contact(self) -> bool:
        return self.recipient.audience is not Audience.CENTRE_TEAM


def event_type(event: Event) -> str:
    if isinstance(event, ReturneeRegistered):
        return REGISTERED
    return AID_GRANTED if isinstance(event, AidGranted) else ACTIVITY_LAUNCHED


def intents(book: RuleBook, event: Event, event_id: UUID) -> Iterator[Intent]:
    for rule in book.for_event(event_type(event)):
        if not _event_allows(rule, event):
            continue
        for recipient in _recipients(rule, event):
            yield Intent(
                notification_id=notification_id(event_id, recipient.key, rule.channel),
                rule=rule,
                recipient=recipient,
                context=message_context(event, recipient.returnee_id),
            )


def contact_allows(rule: Rule, contact: Contact) -> bool:
    checks = {
        Condition.SMS_CONSENT: contact.sms_consent,
        Condition.PHONE_PRESENT: contact.phone is not None,
    }
    return all(checks[condition] for condition in rule.when if condition.needs_contact)


def addressed_to_centre(intent: Intent, centre: str, event_id: UUID) -> Intent:
    """A centre team's intent for the team of ``centre`` instead of the one the event names:
    the person was transferred before their registration was read, and the team that holds
    their case now is the one to tell. Its recipient, hence its id, names that team."""
    recipient = intent.recipient
    if recipient.audience is not Audience.CENTRE_TEAM or recipient.centre == centre:
        return intent
    team = _team(centre, recipient.returnee_id)
    return replace(
        intent,
        recipient=team,
        notification_id=notification_id(event_id, team.key, intent.rule.channel),
    )


def _event_allows(rule: Rule, event: Event) -> bool:
    if Condition.VULNERABLE in rule.when:
        return isinstance(event, ReturneeRegistered) and bool(event.vulnerabilities)
    return True


def _recipients(rule: Rule, event: Event) -> list[Recipient]:
    if rule.audience is Audience.CENTRE_TEAM and isinstance(event, ReturneeRegistered):
        return [_team(event.reception_centre.value, event.returnee_id)]
    ids = event.returnee_ids if isinstance(event, ActivityLaunched) else [event.returnee_id]
    return [Recipient(rule.audience, f"returnee:{rid}", rid) for rid in ids]


def _team(centre: str, returnee_id: UUID) -> Recipient:
    return Recipient(Audience.CENTRE_TEAM, f"centre_team:{centre}", returnee_id, centre)


def message_context(event: Event, returnee_id: UUID) -> dict[str, Any]:
    """What templates may say. Names, phones and dates of birth are deliberately absent: a
    returnee knows who they are, and a centre team finds the case by its reference."""
    context: dict[str, Any] = {
        "returnee_id": str(returnee_id),
        "reference": reference_of(returnee_id),
    }
    if isinstance(event, ReturneeRegistered):
        context |= {
            "reception_centre": event.reception_centre.value,
            "arrival_date": event.arrival_date.isoformat(),
            "return_type": event.return_type.value,
            "host_country": event.host_country,
            "region_of_origin": event.region_of_origin.value,
            "vulnerabilities": [v.value for v in event.vulnerabilities],
            "sex": event.sex.value,
            "age_years": event.age_years,
            "age_is_estimated": event.age_is_estimated,
            "household_size": event.household_size,
        }
    elif isinstance(event, AidGranted):
        context |= {
            "category": event.category.value,
            "phase": event.phase.value,
            "modality": event.modality.value,
            "partner": event.partner,
            "amount": _money(event.amount),
            "granted_on": event.granted_at.date().isoformat(),
        }
    else:
        share = next((s.amount for s in event.shares if s.returnee_id == returnee_id), None)
        context |= {
            "sector": event.sector.value,
            "region": event.location.region.value,
            "commune": event.location.commune,
            "funding": _money(event.funding),
            "share": _money(share),
            "participants": len(event.returnee_ids),
            "level": event.level.value,
            "launched_on": event.launched_at.date().isoformat(),
        }
    return context


def reference_of(returnee_id: UUID) -> str:
    """The case reference a returnee quotes at their centre."""
    return returnee_id.hex[:8].upper()


def _money(money: Money | None) -> dict[str, str] | None:
    if money is None:
        return None
    return {"amount": format(money.amount, "f"), "currency": money.currency}
