"""Kafka producers that confirm every record: the outbox relay's, and the dead-letter writer's.

The relay uses aiokafka directly rather than a FastStream publisher because it forwards
records that are already fully enveloped (key, value bytes, CloudEvents headers) and needs to
know that *every* record of a batch was acknowledged before it deletes the rows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer

from retour_kit.kafka_security import kafka_options
from retour_kit.outbox import OutboxRecord


class IdempotentProducer:
    """An idempotent, acks=all producer started on first use.

    Started lazily so that a service boots (and keeps accepting writes into its outbox) while
    Kafka is down, and so that a consumer that never dead-letters never opens one; a start that
    fails is retried by the caller's backoff.
    """

    def __init__(self, bootstrap_servers: str, *, client_id: str, linger_ms: int = 0) -> None:
        self._bootstrap_servers = bootstrap_servers
        self._client_id = client_id
        self._linger_ms = linger_ms
        self._producer: AIOKafkaProducer | None = None
        # Partition batches are applied side by side and may dead-letter at the same moment:
        # without the lock, each would start a producer of its own and all but one would leak.
        self._starting = asyncio.Lock()

    async def started(self) -> AIOKafkaProducer:
        async with self._starting:
            return self._producer or await self._start()

    async def _start(self) -> AIOKafkaProducer:
        producer = AIOKafkaProducer(
            **kafka_options(self._bootstrap_servers),
            client_id=self._client_id,
            acks="all",
            enable_idempotence=True,
            linger_ms=self._linger_ms,
            request_timeout_ms=15_000,
        )
        try:
            await producer.start()
        except BaseException:
            await producer.stop()
            raise
        self._producer = producer
        return producer

    async def close(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()


class KafkaRecordPublisher:
    def __init__(self, bootstrap_servers: str, *, client_id: str) -> None:
        self._producer = IdempotentProducer(bootstrap_servers, client_id=client_id, linger_ms=5)

    async def publish_all(self, records: Sequence[OutboxRecord]) -> None:
        producer = await self._producer.started()
        # Appending in outbox order keeps per-key order: same key, same partition, and the
        # idempotent producer never reorders or duplicates within a partition on retries.
        pending = [
            await producer.send(r.topic, r.value, key=r.key, headers=r.headers) for r in records
        ]
        await asyncio.gather(*pending)

    async def close(self) -> None:
        await self._producer.close()
