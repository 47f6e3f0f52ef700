"""The life of one notification in the ledger, and how failed sends are retried."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID

from retour_kit.waiting import exponential_backoff
from retour_notifications.domain.rules import Channel


class Status(StrEnum):
    HELD = "held"
    """Waiting for the returnee's registration, which says whether and how to reach them."""
    QUEUED = "queued"
    SENDING = "sending"
    UNCERTAIN = "uncertain"
    """The gateway may have taken it (no answer came after the request was written, or a
    cancellation came while a sender had it): never sent again by itself; the sender's answer
    or a delivery report settles it, or it becomes ambiguous."""
    SENT = "sent"
    FAILED = "failed"
    AMBIGUOUS = "ambiguous"
    """Final: uncertain, and no delivery report came in time. Whether the person got it is
    unknown; an operator decides what to do."""


class DeliveryRejected(Exception):
    """The gateway refused this message for good (an invalid or barred address, a malformed
    request): sending it again would be refused again."""


class GatewayUnavailable(Exception):
    """The gateway could not take the message now (down, overloaded, misconfigured): retry."""


class OutcomeUnknown(Exception):
    """The request reached the gateway (or may have), and no answer saying what it did came
    back: a timeout or a lost connection after writing, an answer that means nothing clear.
    Sending again could deliver the message twice, so it is not retried."""


@dataclass(frozen=True)
class Notification:
    """A row of the delivery ledger as the consumer records it."""

    notification_id: UUID
    event_id: UUID
    event_type: str
    rule: str
    channel: Channel
    recipient: str
    returnee_id: UUID
    template: str
    status: Status
    language: str | None = None
    address: str | None = None
    subject: str | None = None
    body: str | None = None
    segments: int | None = None
    encoding: str | None = None
    context: dict[str, Any] | None = None
    """Template variables of a held notification, to render it once the contact is known."""
    last_error: str | None = None
    not_before: datetime | None = None
    """A queued notification is not sent before this (a greeting waiting for a duplicate
    review, domain/merges.py); None: as soon as a sender is free."""


@dataclass(frozen=True)
class OutgoingMessage:
    """What a gateway is given: one message to one address."""

    notification_id: UUID
    channel: Channel
    address: str
    subject: str | None
    body: str
    encoding: str | None


@dataclass(frozen=True)
class Claimed:
    """A queued notification a sender took; ``attempt`` fences its outcome, so a sender that
    lost its claim cannot overwrite what another one recorded."""

    message: OutgoingMessage
    returnee_id: UUID
    attempt: int


@dataclass(frozen=True)
class Outcome:
    notification_id: UUID
    attempt: int
    status: Status
    error: str | None = None
    retry_after: timedelta | None = None
    reason: str = "delivered"
    """Label for metrics: delivered, retry, rejected, gave_up, uncertain, undelivered (a
    delivery report said so) or cancelled."""

    def as_recorded(self, status: Status) -> Outcome:
        """This outcome as the ledger recorded it, with the row's ``status``. The two differ
        when a cancellation (an erasure, a merge, ...) came while the gateway had the message,
        and the gateway did not take it: the retry is recorded as failed, reason
        ``cancelled`` (nothing was sent, and no delivery failed); or when the delivery report
        came before an unknown outcome, and settled it."""
        if status is self.status:
            return self
        if status is Status.SENT:
            return replace(self, status=status, error=None, reason="delivered")
        if self.status is Status.QUEUED:
            return replace(self, status=status, retry_after=None, reason=CANCELLED)
        return replace(self, status=status, reason="undelivered")


CANCELLED = "cancelled"
"""An outcome's reason when a cancellation came first: not a delivery failure."""


@dataclass(frozen=True, kw_only=True)
class DeliveryRetryPolicy:
    """How often a message is tried at its gateway (the consumer's own retries are the kit's
    ``RetryPolicy``)."""

    max_attempts: int = 20
    backoff_seconds: float = 5.0
    backoff_cap_seconds: float = 600.0

    def delay_after(self, attempt: int) -> timedelta:
        """Exponential backoff: a gateway that is down is not hammered, and one that comes
        back is tried again within ``backoff_cap_seconds``."""
        seconds = exponential_backoff(
            attempt, first=self.backoff_seconds, cap=self.backoff_cap_seconds
        )
        return timedelta(seconds=seconds)

    def outcome_of_failure(
        self, claimed: Claimed, error: DeliveryRejected | GatewayUnavailable | OutcomeUnknown
    ) -> Outcome:
        nid, attempt = claimed.message.notification_id, claimed.attempt
        if isinstance(error, OutcomeUnknown):
            return Outcome(nid, attempt, Status.UNCERTAIN, str(error), reason="uncertain")
        if isinstance(error, DeliveryRejected):
            return Outcome(nid, attempt, Status.FAILED, str(error), reason="rejected")
        if attempt >= self.max_attempts:
            reason = f"gave up after {attempt} attempts: {error}"
            return Outcome(nid, attempt, Status.FAILED, reason, reason="gave_up")
        delay = self.delay_after(attempt)
        return Outcome(nid, attempt, Status.QUEUED, str(error), delay, reason="retry")
