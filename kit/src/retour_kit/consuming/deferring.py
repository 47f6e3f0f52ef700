"""A failed record whose verdict is not in yet: its partition waits, the others go on.

On a quiet topic a record that fails all its attempts often has nothing after it in its batch
to look ahead at, so whether it is poison or the consumer is broken cannot be told yet.
Dead-lettering it at once would lose ``threshold - 1`` records to every systematic failure; so
the record is *deferred* instead: its partition's offset is committed up to it, its position
moved back to it, and that partition alone is paused for ``verdict_wait_seconds`` while the
others go on and feed the evidence. When the wait ends the record is tried again; a record is
deferred at most once, so its second failure is judged on what is known by then: the
threshold reached (the consumer pauses) or not (the record is poison and dead-lettered).

Both halves live in memory. A rebalance forgets them (``forget``): whoever owns the partition
next reads the record again from the committed offset and judges it afresh.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer

from retour_kit.consuming.settings import Subscription
from retour_kit.consuming.systematic import RecordId, record_id

log = structlog.stdlib.get_logger(__name__)

Clock = Callable[[], float]


@dataclass(frozen=True)
class Deferral:
    """Where a partition waits: its record that failed without a verdict."""

    subscription: Subscription
    record: Any  # aiokafka ConsumerRecord; the offset is not committed past it
    code: str


class DeferredRecords:
    """The records deferred once already, remembered for the failure window.

    Bounded: a deferral older than the window is forgotten, as its evidence would be; by then
    the record was tried again long ago (the wait does not exceed the window).
    """

    def __init__(self, window_seconds: float, clock: Clock = time.monotonic) -> None:
        self._window = window_seconds
        self._clock = clock
        self._deferred_at: dict[RecordId, float] = {}

    def first_deferral(self, record: Any) -> bool:
        """True, and remembered, the first time ``record`` is deferred; False afterwards."""
        now = self._clock()
        oldest = now - self._window
        for key in [key for key, at in self._deferred_at.items() if at < oldest]:
            del self._deferred_at[key]
        key = record_id(record)
        if key in self._deferred_at:
            return False
        self._deferred_at[key] = now
        return True

    def forget(self, partitions: Collection[Any]) -> None:
        """Drops the deferrals of ``partitions`` (aiokafka ``TopicPartition``s)."""
        revoked = {(p.topic, p.partition) for p in partitions}
        for key in [key for key in self._deferred_at if key[:2] in revoked]:
            del self._deferred_at[key]

    def __len__(self) -> int:
        return len(self._deferred_at)


class HeldPartitions:
    """The partitions paused while their deferred record waits, and until when."""

    def __init__(self, wait_seconds: float, clock: Clock = time.monotonic) -> None:
        self._wait = wait_seconds
        self._clock = clock
        self._until: dict[Any, float] = {}

    def hold(self, consumer: AIOKafkaConsumer, partition: Any) -> None:
        if partition not in consumer.assignment():
            return  # revoked meanwhile: its next owner starts from the committed offset
        consumer.pause(partition)
        self._until[partition] = self._clock() + self._wait

    def waiting(self) -> set[Any]:
        """Held partitions whose wait is not over: a global resume must leave them paused."""
        now = self._clock()
        return {partition for partition, until in self._until.items() if now < until}

    def release_due(self, consumer: AIOKafkaConsumer) -> None:
        """Resumes the partitions whose wait is over. Not called during a global pause: a
        partition whose wait ends then stays paused until the global pause ends."""
        now = self._clock()
        for partition in [p for p, until in self._until.items() if until <= now]:
            del self._until[partition]
            if partition in consumer.assignment():
                consumer.resume(partition)
                log.info(
                    "partition resumed: deferred record tried again",
                    topic=partition.topic,
                    partition=partition.partition,
                )

    def forget(self, partitions: Collection[Any]) -> None:
        for partition in partitions:
            self._until.pop(partition, None)
