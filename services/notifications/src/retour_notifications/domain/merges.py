"""One person, two registrations: the greeting that waits for a duplicate review, and merges.

Intake registers a weak duplicate match anyway, with ``possible_duplicate_of`` filled in, and a
supervisor later decides in its review queue whether the two registrations are one person
(``returnee.merged``: ``returnee_id`` is merged into ``merged_into``). So that the person is
greeted once:

- a registration still waiting for that review does not greet its returnee at once: its own
  messages to the returnee wait ``DUPLICATE_HOLD_HOURS``, so that a review within that time
  cancels them (messages to a centre team never wait);
- a merged registration is never greeted, and never contacted as itself again: a later event
  about it is addressed to the registration the person keeps (its phone, its language, its
  case), whatever order the topics were read in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from uuid import UUID

from retour_contracts import RegistrationFacts, ReturneeRegistered
from retour_notifications.domain.contacts import Refusals
from retour_notifications.domain.delivery import Notification
from retour_notifications.domain.planning import (
    Event,
    Intent,
    Recipient,
    notification_id,
    reference_of,
)

MERGED = "cancelled: this registration was merged into another, through which the person is told"
"""Why a message waiting for a merged registration was not sent (no personal data)."""

MAX_MERGE_CHAIN = 20
"""Links followed from a registration to the one the person keeps (intake's own bound)."""


def awaits_duplicate_review(registration: RegistrationFacts) -> bool:
    """A weak duplicate match that no one confirmed yet: a supervisor may still find that it
    is a person registered before. (A strong match is registered only once confirmed.)"""
    return bool(registration.possible_duplicate_of) and registration.duplicate_confirmed_by is None


def greeting_not_before(
    event: Event, intent: Intent, *, hold: timedelta, now: datetime
) -> datetime | None:
    """The earliest a registration's own message to its returnee may go out: after ``hold``
    when the registration awaits a duplicate review, else at once (None).

    Counted from when notifications records the registration, not from its publication: a
    consumer that is behind reads the merge (on its own topic, consumed alongside) about as
    late as the registration, and the review keeps its whole time to prevent the greeting.
    """
    if hold <= timedelta(0) or not intent.needs_contact:
        return None
    if not isinstance(event, ReturneeRegistered) or not awaits_duplicate_review(event):
        return None
    return now + hold


def resolve_merges(edges: Mapping[UUID, UUID], returnee_ids: Iterable[UUID]) -> dict[UUID, UUID]:
    """Each of ``returnee_ids`` that was merged -> the registration the person keeps now.

    ``edges`` are the merges recorded (registration -> the one it was merged into; the latest
    decision per registration). Chains are followed (X into B, then B into A: X is A), so the
    answer does not depend on whether intake's own merged(X->A) was read yet. A cycle, which
    intake never produces, stops before a registration repeats."""
    resolved: dict[UUID, UUID] = {}
    for returnee_id in returnee_ids:
        seen = [returnee_id]
        current = returnee_id
        while current in edges and len(seen) <= MAX_MERGE_CHAIN:
            following = edges[current]
            if following in seen:
                break
            seen.append(following)
            current = following
        if current != returnee_id:
            resolved[returnee_id] = current
    return resolved


def addressed_as_merged(intent: Intent, into: UUID, event_id: UUID) -> Intent:
    """``intent`` for the registration ``into`` the person keeps: its recipient, hence its id,
    names that registration, so an activity naming both registrations tells the person once,
    and the message quotes the case the person keeps."""
    recipient = Recipient(intent.recipient.audience, f"returnee:{into}", into)
    return replace(
        intent,
        recipient=recipient,
        notification_id=notification_id(event_id, recipient.key, intent.rule.channel),
        context={**intent.context, "returnee_id": str(into), "reference": reference_of(into)},
    )


def for_merged_registrations(
    planned: Iterable[Intent], event: Event, event_id: UUID, refusals: Refusals
) -> list[Intent]:
    """The intents of ``event`` once the merges known are applied: a merged registration's own
    greeting is dropped (the person was greeted as the registration they keep), and any other
    message about it goes to the registration the person keeps; nothing for an erased person,
    under either registration."""
    result: list[Intent] = []
    for intent in planned:
        returnee_id = intent.recipient.returnee_id
        if not intent.needs_contact:
            result.append(intent)  # centre teams: not the person, told as before
            continue
        contacted_as = refusals.contacted_as(returnee_id)
        if contacted_as is None:
            continue
        if contacted_as == returnee_id:
            result.append(intent)
        elif not isinstance(event, ReturneeRegistered):
            result.append(addressed_as_merged(intent, contacted_as, event_id))
    return result


def moved_to(held: Notification, into: UUID) -> Notification:
    """A notification that waited for a merged registration's arrival, recorded again for the
    registration the person keeps (still held: the caller composes it once that one is known).
    Its id is the one the event read after the merge would have given, so reading that event
    again records nothing more."""
    context = {**(held.context or {}), "returnee_id": str(into), "reference": reference_of(into)}
    recipient = f"returnee:{into}"
    return replace(
        held,
        notification_id=notification_id(held.event_id, recipient, held.channel),
        recipient=recipient,
        returnee_id=into,
        context=context,
    )
