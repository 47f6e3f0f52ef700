"""Writes records the consumer gave up on to ``<topic>.dlq``, byte for byte.

The producer is idempotent with ``acks=all`` and every write is awaited until the broker
acknowledged it: the consumer commits the record's offset only afterwards, so a dead letter is
never lost. A crash between the acknowledgement and the commit writes it a second time;
``dlq_original_topic/partition/offset`` identify such copies.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from retour_contracts.dlq import dead_letter_headers
from retour_kit.kafka_publisher import IdempotentProducer


class DeadLetterPublisher:
    def __init__(self, bootstrap_servers: str, *, consumer_name: str, client_id: str) -> None:
        self._consumer_name = consumer_name
        self._producer = IdempotentProducer(bootstrap_servers, client_id=client_id)

    async def publish(self, record: Any, *, dlq_topic: str, reason: str, code: str) -> None:
        """Sends ``record`` (an aiokafka ``ConsumerRecord``) to ``dlq_topic`` and waits for the
        acknowledgement; raises when Kafka cannot take it (the caller retries)."""
        # Most consumers never dead-letter anything: the producer starts on first use.
        producer = await self._producer.started()
        headers = dead_letter_headers(
            list(record.headers),
            reason=reason,
            code=code,
            consumer=self._consumer_name,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            failed_at=datetime.now(UTC),
        )
        await producer.send_and_wait(dlq_topic, record.value, key=record.key, headers=headers)

    async def close(self) -> None:
        await self._producer.close()
