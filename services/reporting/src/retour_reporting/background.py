"""The consumer that keeps the projections current, run alongside the HTTP API.

It starts with the HTTP lifespan and is asked to stop with it: it finishes the partition
batch it is applying (its offsets then commit) within ``CONSUMER_STOP_SECONDS``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import structlog

from retour_kit.consuming import EventConsumer

CONSUMER_STOP_SECONDS = 15.0


@contextlib.asynccontextmanager
async def consuming(consumer: EventConsumer) -> AsyncIterator[None]:
    task = asyncio.create_task(consumer.run(), name="reporting-consumer")
    try:
        yield
    finally:
        consumer.stop()
        try:
            async with asyncio.timeout(CONSUMER_STOP_SECONDS):
                await task
        except TimeoutError:
            # Cancelled mid-batch: its transaction rolls back and its offsets stay where they
            # were, so the next consumer of the partition applies it.
            structlog.stdlib.get_logger(__name__).warning("consumer did not stop in time")
