"""The service's background work: the registrations consumer and the outbox relay.

Both start with the HTTP lifespan and stop with it. The consumer is asked to stop first and
finishes the partition batch it is applying (its offsets then commit); the relay is simply
cancelled: an interrupted relay batch rolls back and is published again later.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import structlog

from retour_kit.consuming import EventConsumer
from retour_kit.outbox import OutboxRelay

log = structlog.stdlib.get_logger(__name__)

CONSUMER_STOP_SECONDS = 15.0


@contextlib.asynccontextmanager
async def running(consumer: EventConsumer, relay: OutboxRelay) -> AsyncIterator[None]:
    consumer_task = asyncio.create_task(consumer.run(), name="registrations-consumer")
    relay_task = asyncio.create_task(relay.run_forever(), name="outbox-relay")
    try:
        yield
    finally:
        consumer.stop()
        relay_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await relay_task
        try:
            async with asyncio.timeout(CONSUMER_STOP_SECONDS):
                await consumer_task
        except TimeoutError:
            # Cancelled mid-batch: its transaction rolls back, its offsets stay, and the next
            # consumer of the partition applies it.
            log.warning("consumer did not stop in time, cancelled")
