"""Per-partition bookkeeping of a group member: lag gauges and rebalance handling."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Collection
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener
from aiokafka.errors import IllegalStateError

from retour_kit.consuming.metrics import ConsumerMetrics

log = structlog.stdlib.get_logger(__name__)

LagLabels = tuple[str, str, str]  # group, topic, partition


class LagReporter:
    """Sets ``consumer_lag`` (highwater minus position) for the partitions this member owns,
    at most once per ``interval_seconds``: ``position()`` may ask the broker."""

    def __init__(self, group: str, metrics: ConsumerMetrics | None, interval_seconds: float):
        self._group = group
        self._metrics = metrics
        self._interval = interval_seconds
        self._last_report = float("-inf")
        self._reported: set[LagLabels] = set()

    async def report(self, consumer: AIOKafkaConsumer) -> None:
        now = time.monotonic()
        if self._metrics is None or now - self._last_report < self._interval:
            return
        self._last_report = now
        reported: set[LagLabels] = set()
        for partition in consumer.assignment():
            highwater = consumer.highwater(partition)
            if highwater is None:
                continue  # nothing fetched from it yet
            with contextlib.suppress(TimeoutError, IllegalStateError):
                async with asyncio.timeout(1.0):
                    position = await consumer.position(partition)
                labels = (self._group, partition.topic, str(partition.partition))
                self._metrics.lag.labels(*labels).set(max(0, highwater - position))
                reported.add(labels)
        # A partition revoked since the last report is another member's to report now.
        for labels in self._reported - reported:
            with contextlib.suppress(KeyError):
                self._metrics.lag.remove(*labels)
        self._reported = reported


class FinishBatchBeforeRevoke(ConsumerRebalanceListener):  # type: ignore[misc]
    """Lets the batch in progress commit its offsets before the group reassigns partitions.

    aiokafka calls ``on_partitions_revoked`` before rejoining, while this member still owns
    its partitions (and its commits are still accepted): waiting here means the next owner
    starts after our last commit instead of receiving the batch again. The wait is bounded,
    because a batch stuck in an outage must not hold the whole group; its records are then
    redelivered and the inbox skips them.

    ``forget`` is then told which partitions were revoked, for the member's in-memory
    bookkeeping about them (deferred verdicts): whoever owns them next starts afresh from the
    committed offsets.
    """

    def __init__(
        self,
        idle: asyncio.Event,
        timeout_seconds: float,
        forget: Callable[[Collection[Any]], None] | None = None,
    ) -> None:
        self._idle = idle
        self._timeout_seconds = timeout_seconds
        self._forget = forget

    async def on_partitions_revoked(self, revoked: Any) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._timeout_seconds):
                await self._idle.wait()
        if self._forget is not None:
            self._forget(revoked)

    async def on_partitions_assigned(self, assigned: Any) -> None:
        names = sorted(f"{p.topic}[{p.partition}]" for p in assigned)
        log.info("partitions assigned", partitions=names)
