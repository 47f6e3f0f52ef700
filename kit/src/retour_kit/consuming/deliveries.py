"""Records as the batch processor sees them: parsed into events, or refused as unreadable."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from retour_contracts import EnvelopeError, InvalidHeaderError, ParsedEvent, parse_envelope
from retour_kit.consuming.settings import Subscription
from retour_kit.safe_errors import describe_error


@dataclass(frozen=True)
class Delivery:
    """A valid record and its event."""

    record: Any  # aiokafka ConsumerRecord
    parsed: ParsedEvent
    event_id: UUID

    @property
    def trace_id(self) -> str:
        return self.parsed.traceparent.split("-")[1]


def parse_record(subscription: Subscription, record: Any) -> Delivery:
    parsed = parse_envelope(subscription.spec.topic, record.key, record.value, record.headers)
    try:
        event_id = UUID(parsed.event_id)
    except ValueError:
        # The inbox keys on uuids, and every retour producer sends one.
        raise InvalidHeaderError("ce_id is not a UUID") from None
    return Delivery(record=record, parsed=parsed, event_id=event_id)


def describe_unreadable(error: BaseException) -> str:
    return error.reason if isinstance(error, EnvelopeError) else describe_error(error)


def first_of_each(deliveries: list[Delivery], new_ids: set[UUID]) -> list[Delivery]:
    unseen = set(new_ids)
    fresh: list[Delivery] = []
    for delivery in deliveries:
        if delivery.event_id in unseen:
            fresh.append(delivery)
            unseen.discard(delivery.event_id)  # a second copy in the same batch is a duplicate
    return fresh
