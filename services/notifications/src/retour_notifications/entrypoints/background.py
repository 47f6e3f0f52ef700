"""The service's background work: the consumer, the channel senders and the upkeep.

All start with the HTTP lifespan and stop with it. The consumer finishes the partition batch it
is applying (its offsets then commit); each sender worker finishes the message in hand, so a
graceful stop interrupts no send.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence

import structlog

from retour_kit.consuming import EventConsumer
from retour_notifications.entrypoints.senders import ChannelSender
from retour_notifications.entrypoints.upkeep import Upkeep

log = structlog.stdlib.get_logger(__name__)

STOP_SECONDS = 15.0


@contextlib.asynccontextmanager
async def running(
    consumer: EventConsumer, senders: Sequence[ChannelSender], upkeep: Upkeep
) -> AsyncIterator[None]:
    stopping = asyncio.Event()
    tasks = [
        asyncio.create_task(consumer.run(), name="notifications-consumer"),
        asyncio.create_task(upkeep.run(stopping), name="notifications-upkeep"),
        *(
            asyncio.create_task(sender.run(stopping), name=f"{sender.channel}-sender")
            for sender in senders
        ),
    ]
    try:
        yield
    finally:
        consumer.stop()
        stopping.set()
        _, unfinished = await asyncio.wait(tasks, timeout=STOP_SECONDS)
        for task in unfinished:
            # Cancelled mid-way: an uncommitted batch is redelivered; a message cut off
            # mid-send stays `sending` and is recorded as interrupted, never resent.
            log.warning("background task did not stop in time, cancelled", task=task.get_name())
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
