"""Delivering one claimed notification through its channel's gateway."""

from __future__ import annotations

import structlog

from retour_notifications.domain.delivery import (
    Claimed,
    DeliveryRejected,
    DeliveryRetryPolicy,
    GatewayUnavailable,
    Outcome,
    OutcomeUnknown,
    Status,
)
from retour_notifications.usecases.ports import Gateway

log = structlog.stdlib.get_logger(__name__)


async def deliver(claimed: Claimed, gateway: Gateway, policy: DeliveryRetryPolicy) -> Outcome:
    """Sends the message and decides what the ledger records: sent, failed for good, queued
    again for a later attempt, or uncertain (the gateway may have sent it: never again)."""
    try:
        await gateway.send(claimed.message)
    except (DeliveryRejected, GatewayUnavailable, OutcomeUnknown) as error:
        return policy.outcome_of_failure(claimed, error)
    except Exception as error:
        # A bug in an adapter must not kill the sender; counted as transient, so it is
        # retried a bounded number of times and then recorded as failed.
        log.exception("gateway raised an unexpected error", channel=claimed.message.channel)
        unexpected = GatewayUnavailable(f"unexpected {type(error).__name__}")
        return policy.outcome_of_failure(claimed, unexpected)
    return Outcome(claimed.message.notification_id, claimed.attempt, Status.SENT)
