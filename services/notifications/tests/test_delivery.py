"""Delivering one claimed message: sent, retried with backoff, or failed for good."""

from datetime import timedelta
from uuid import uuid4

import pytest
from prometheus_client import CollectorRegistry

from retour_notifications.adapters.metrics import NotificationMetrics
from retour_notifications.domain.delivery import (
    CANCELLED,
    Claimed,
    DeliveryRejected,
    DeliveryRetryPolicy,
    GatewayUnavailable,
    Outcome,
    OutgoingMessage,
    Status,
)
from retour_notifications.domain.rules import Channel
from retour_notifications.usecases.send import deliver

POLICY = DeliveryRetryPolicy(max_attempts=4, backoff_seconds=2, backoff_cap_seconds=5)


class FakeGateway:
    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.sent: list[OutgoingMessage] = []

    async def send(self, message: OutgoingMessage) -> None:
        if self.error:
            raise self.error
        self.sent.append(message)


def claimed(attempt: int = 1) -> Claimed:
    message = OutgoingMessage(uuid4(), Channel.SMS, "+22365012345", None, "Bonjour", "gsm7")
    return Claimed(message=message, returnee_id=uuid4(), attempt=attempt)


async def test_an_accepted_message_is_sent() -> None:
    gateway = FakeGateway()
    work = claimed()

    outcome = await deliver(work, gateway, POLICY)

    assert (outcome.status, outcome.attempt) == (Status.SENT, 1)
    assert gateway.sent == [work.message]


async def test_a_rejected_message_fails_at_once() -> None:
    outcome = await deliver(claimed(), FakeGateway(DeliveryRejected("kannel answered 400")), POLICY)

    assert (outcome.status, outcome.reason, outcome.error) == (
        Status.FAILED,
        "rejected",
        "kannel answered 400",
    )


@pytest.mark.parametrize(("attempt", "delay"), [(1, 2), (2, 4), (3, 5)])
async def test_an_unavailable_gateway_is_retried_with_capped_backoff(
    attempt: int, delay: float
) -> None:
    outcome = await deliver(claimed(attempt), FakeGateway(GatewayUnavailable("down")), POLICY)

    assert (outcome.status, outcome.reason) == (Status.QUEUED, "retry")
    assert outcome.retry_after == timedelta(seconds=delay)


async def test_retries_end_after_the_last_attempt() -> None:
    outcome = await deliver(claimed(4), FakeGateway(GatewayUnavailable("down")), POLICY)

    assert (outcome.status, outcome.reason) == (Status.FAILED, "gave_up")
    assert outcome.error == "gave up after 4 attempts: down"


async def test_a_bug_in_a_gateway_is_retried_not_fatal() -> None:
    outcome = await deliver(claimed(), FakeGateway(KeyError("oops")), POLICY)

    assert (outcome.status, outcome.error) == (Status.QUEUED, "unexpected KeyError")


@pytest.mark.parametrize(
    ("asked", "recorded", "reason", "counted"),
    [
        (Status.SENT, Status.SENT, "delivered", "sent"),
        # A cancellation came while the gateway had it, and the gateway did not take it.
        (Status.QUEUED, Status.FAILED, CANCELLED, None),
        # Its delivery report came before the sender's unknown outcome.
        (Status.UNCERTAIN, Status.SENT, "delivered", "sent"),
        (Status.UNCERTAIN, Status.FAILED, "undelivered", "failed"),
    ],
)
def test_an_outcome_is_counted_as_the_ledger_recorded_it(
    asked: Status, recorded: Status, reason: str, counted: str | None
) -> None:
    outcome = Outcome(uuid4(), 1, asked, error="timeout", retry_after=timedelta(seconds=5))
    registry = CollectorRegistry()
    metrics = NotificationMetrics.register(registry)

    as_recorded = outcome.as_recorded(recorded)
    metrics.count_outcome(Channel.SMS, as_recorded)

    assert (as_recorded.status, as_recorded.reason) == (recorded, reason)
    totals = {
        name: registry.get_sample_value(f"notifications_{name}_total", labels) or 0
        for name, labels in [
            ("sent", {"channel": "sms"}),
            ("failed", {"channel": "sms", "reason": reason}),
            ("retries", {"channel": "sms"}),
        ]
    }
    assert totals == {name: float(name == counted) for name in totals}
