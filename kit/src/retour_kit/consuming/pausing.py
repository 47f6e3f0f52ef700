"""A consumer's pause on a systematic failure: entered, held, probed, left.

While paused, every partition the member owns stays paused (a rebalance can hand it new ones)
and the consumer loop keeps polling, so the group does not take the member for dead. The
halted record is tried again, for real, after ``probe_seconds``, doubling up to the cap; once
it applies (or fails another way, which the normal path then judges), the partitions resume
from their committed offsets. The pause lives in memory: a restart forgets it, and the next
failures decide again.

A partition held for a deferred verdict (``deferring``) is paused with the rest; the resume
leaves it paused while its wait lasts, and the consumer loop releases it when the wait is over
(a wait that ends during the pause ends with the pause).
"""

from __future__ import annotations

import time

import structlog
from aiokafka import AIOKafkaConsumer

from retour_kit.consuming.batch import BatchProcessor
from retour_kit.consuming.deferring import HeldPartitions
from retour_kit.consuming.metrics import ConsumerMetrics
from retour_kit.consuming.settings import ConsumerSettings
from retour_kit.consuming.systematic import Halt

log = structlog.stdlib.get_logger(__name__)


class SystematicPause:
    def __init__(
        self,
        settings: ConsumerSettings,
        processor: BatchProcessor,
        held: HeldPartitions,
        metrics: ConsumerMetrics | None,
    ) -> None:
        self._group = settings.group_id
        self._policy = settings.systematic
        self._processor = processor
        self._held = held
        self._metrics = metrics
        self._halt: Halt | None = None
        self._failed_probes = 0
        self._next_probe_at = 0.0

    @property
    def active(self) -> bool:
        return self._halt is not None

    @property
    def reason(self) -> str | None:
        return self._halt.reason if self._halt else None

    def begin(self, consumer: AIOKafkaConsumer, halt: Halt) -> None:
        """Pauses every owned partition; the first halt is the record probed for all."""
        consumer.pause(*consumer.assignment())
        if self._halt is not None:
            return
        self._halt = halt
        self._failed_probes = 0
        self._next_probe_at = time.monotonic() + self._policy.probe_pause(0)
        topic = halt.subscription.kafka_topic
        if self._metrics:
            self._metrics.paused.labels(self._group).set(1)
            self._metrics.systematic_failures.labels(self._group, topic, halt.code).inc()
        log.error(
            "consumer paused: systematic failure",
            group=self._group,
            topic=topic,
            partition=halt.record.partition,
            offset=halt.record.offset,
            code=halt.code,
            threshold=self._policy.threshold,
        )

    async def hold_or_resume(self, consumer: AIOKafkaConsumer) -> None:
        """Keeps the owned partitions paused, and probes the halted record when it is time."""
        halt = self._halt
        if halt is None:
            return
        consumer.pause(*consumer.assignment())
        if time.monotonic() < self._next_probe_at:
            return
        if not await self._processor.probe(halt):
            self._failed_probes += 1
            delay = self._policy.probe_pause(self._failed_probes)
            self._next_probe_at = time.monotonic() + delay
            log.info(
                "still paused: probe failed",
                group=self._group,
                code=halt.code,
                retry_in_s=round(delay, 2),
            )
            return
        self._halt = None
        consumer.resume(*(consumer.assignment() - self._held.waiting()))
        if self._metrics:
            self._metrics.paused.labels(self._group).set(0)
        log.warning(
            "consumer resumed: probe succeeded",
            group=self._group,
            code=halt.code,
            probes=self._failed_probes + 1,
        )
