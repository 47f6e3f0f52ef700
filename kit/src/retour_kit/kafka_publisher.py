"""Kafka producers that confirm every record: the outbox relay's, and the dead-letter writer's.

The relay uses aiokafka directly rather than a FastStream publisher because it forwards
records that are already fully enveloped (key, value bytes, CloudEvents headers) and needs to
know that *every* record of a batch was acknowledged before it deletes the rows.

The relay's producer is transactional, for fencing: each service outbox has one stable
transactional.id, and a relay that becomes the leader starts a fresh producer under it before
it publishes anything. The broker then bumps the producer epoch, aborts whatever transaction a
previous leader left open, and refuses that leader's later sends and commits
(ProducerFenced): a leader that froze with records in its producer's buffer and wakes up after
another took over cannot append them after the new leader's. Consumers read with
isolation_level=read_committed, so records of an aborted batch are never seen.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import replace

import structlog
from aiokafka import AIOKafkaProducer

from retour_contracts.envelope import H_TRACEPARENT
from retour_kit.kafka_security import kafka_options
from retour_kit.outbox import OutboxRecord
from retour_kit.telemetry import OutgoingRecord, publishing_spans

log = structlog.stdlib.get_logger(__name__)

# Closing a producer flushes what it holds; towards an unreachable broker that never ends.
_CLOSE_SECONDS = 5.0


class IdempotentProducer:
    """An idempotent, acks=all producer started on first use (transactional when given a
    ``transactional_id``).

    Started lazily so that a service boots (and keeps accepting writes into its outbox) while
    Kafka is down, and so that a consumer that never dead-letters never opens one; a start that
    fails is retried by the caller's backoff.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        *,
        client_id: str,
        linger_ms: int = 0,
        transactional_id: str | None = None,
    ) -> None:
        self._bootstrap_servers = bootstrap_servers
        self._client_id = client_id
        self._linger_ms = linger_ms
        self._transactional_id = transactional_id
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
            transactional_id=self._transactional_id,
            linger_ms=self._linger_ms,
            request_timeout_ms=15_000,
        )
        try:
            await producer.start()
        except BaseException:
            await _stop_within(producer, _CLOSE_SECONDS)
            raise
        self._producer = producer
        return producer

    async def close(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await _stop_within(producer, _CLOSE_SECONDS)


async def _stop_within(producer: AIOKafkaProducer, seconds: float) -> None:
    try:
        async with asyncio.timeout(seconds):
            await producer.stop()
    except TimeoutError:
        # Its buffered records are dropped: for the relay they are in a transaction that is
        # never committed (the rows stay in the outbox and are published again).
        log.warning("kafka producer did not close in time, its connections are dropped")
        with contextlib.suppress(Exception):
            await producer.client.close()


class KafkaRecordPublisher:
    """The outbox relay's publisher: one Kafka transaction per batch, fenced per leadership.

    ``transactional_id`` must be the same for every replica of one service outbox (and differ
    between outboxes); it defaults to ``client_id``.
    """

    def __init__(
        self, bootstrap_servers: str, *, client_id: str, transactional_id: str | None = None
    ) -> None:
        self.transactional_id = transactional_id or client_id
        self._producer = IdempotentProducer(
            bootstrap_servers,
            client_id=client_id,
            linger_ms=5,
            transactional_id=self.transactional_id,
        )

    async def take_over(self) -> None:
        """Called by a relay that just became the leader, before it publishes: a fresh
        producer's initialisation fences every earlier producer of the transactional id."""
        await self._producer.close()
        producer = await self._producer.started()
        # Beginning waits for the producer id, which the broker gives only once the previous
        # holder's open transaction is aborted; nothing is sent in this empty one.
        await producer.begin_transaction()
        await producer.abort_transaction()

    async def step_down(self) -> None:
        await self._producer.close()

    async def publish_all(self, records: Sequence[OutboxRecord]) -> None:
        producer = await self._producer.started()
        try:
            with publishing_spans(records, _outgoing) as traceparents:
                await producer.begin_transaction()
                await self._send_all(producer, _traced(records, traceparents))
                await producer.commit_transaction()
        except BaseException:
            # Whatever state the transaction is in (open, fenced, cut off by the relay's time
            # limit), this producer is done: the next batch starts a fresh one, whose
            # initialisation aborts anything left open. The rows are published again.
            await self._producer.close()
            raise

    async def _send_all(self, producer: AIOKafkaProducer, records: Sequence[OutboxRecord]) -> None:
        # Appending in outbox order keeps per-key order: same key, same partition, and the
        # idempotent producer never reorders or duplicates within a partition on retries.
        pending = [
            await producer.send(r.topic, r.value, key=r.key, headers=r.headers) for r in records
        ]
        await asyncio.gather(*pending)

    async def close(self) -> None:
        await self._producer.close()


def _outgoing(record: OutboxRecord) -> OutgoingRecord:
    headers = dict(record.headers)
    traceparent = headers.get(H_TRACEPARENT)
    return OutgoingRecord(
        topic=record.topic,
        event_id=record.event_id,
        traceparent=traceparent.decode("latin-1") if traceparent is not None else None,
    )


def _traced(
    records: Sequence[OutboxRecord], traceparents: Sequence[str | None]
) -> list[OutboxRecord]:
    """The records sent with their producer span's traceparent (same trace, the relay's span
    as parent), so that consumers' spans hang under the relay's; ``None`` keeps the header."""
    return [
        record
        if traceparent is None
        else replace(record, headers=_with_traceparent(record.headers, traceparent))
        for record, traceparent in zip(records, traceparents, strict=True)
    ]


def _with_traceparent(
    headers: Sequence[tuple[str, bytes]], traceparent: str
) -> list[tuple[str, bytes]]:
    return [
        (name, traceparent.encode() if name == H_TRACEPARENT else value) for name, value in headers
    ]
