"""Kafka consumer machinery shared by every consuming service (reintegration, notifications,
reporting): inbox deduplication, one transaction per partition batch, per-partition commits
after the transaction, dead-letter topics, outage handling, a pause instead of a flood of dead
letters when the consumer itself is broken (``systematic``, ``deferring``, ``pausing``), the
replay of dead letters after a fix (``replay``) and metrics.

Services do not wire it by hand: ``retour_kit.runtime`` builds the consumer a service
declares (its events, inbox name and handler). What that amounts to::

    consumer = EventConsumer(
        ConsumerSettings(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            group_id="reporting",
            subscriptions=(Subscription(RETURNEE_REGISTERED_V1), Subscription(AID_GRANTED_V1)),
        ),
        database=database,
        handler=project,   # async def project(conn, events) -> None, in the batch's transaction
        metrics=ConsumerMetrics.register(registry),
    )
    task = asyncio.create_task(consumer.run())   # lifespan start
    consumer.stop(); await task                  # lifespan shutdown: finishes the batch

The service's schema needs the ``inbox`` table (see ``retour_kit.consuming.inbox``) and the
topics need their ``<topic>.dlq`` companions (``retour_kit.topics`` creates both).
"""

from retour_kit.consuming.consumer import EventConsumer
from retour_kit.consuming.handlers import (
    HandleBatch,
    TransientError,
)
from retour_kit.consuming.inbox import claim_new_events
from retour_kit.consuming.metrics import ConsumerMetrics
from retour_kit.consuming.replay import ReplaySummary, replay_dead_letters
from retour_kit.consuming.settings import (
    ConsumerSettings,
    ConsumerSetupError,
    RetryPolicy,
    Subscription,
    SystematicFailurePolicy,
)

__all__ = [
    "ConsumerMetrics",
    "ConsumerSettings",
    "ConsumerSetupError",
    "EventConsumer",
    "HandleBatch",
    "ReplaySummary",
    "RetryPolicy",
    "Subscription",
    "SystematicFailurePolicy",
    "TransientError",
    "claim_new_events",
    "replay_dead_letters",
]
