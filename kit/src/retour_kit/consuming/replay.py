"""Replaying a consumer's dead letters after a fix (``retour-<service> dead-letters replay``).

The dead letters are handed to the consumer's own pipeline (``applying.apply_events``: the
inbox rows and the handler's effects in one transaction), never republished to the original
topic: with per-service Kafka ACLs a service may write only its own topics and dead-letter
topics, and the original topic is another service's. That also makes a replay idempotent:
an event already applied (by an earlier replay, or because the record was dead-lettered
twice) finds its inbox row and is skipped.

Which records: those of ``<topic>.dlq`` whose ``dlq_consumer`` header names this consumer,
once each per original record (a crash between the dead letter and the commit can write two
copies), in their original order: by original partition, then offset. The dead-letter topics
are read without a consumer group and nothing is deleted: a record that fails again stays a
dead letter, with its original reason in the topic and the new one in the log and summary.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import structlog
from aiokafka import AIOKafkaConsumer

from retour_contracts.dlq import DLQ_CONSUMER, DLQ_ORIGINAL_OFFSET, DLQ_ORIGINAL_PARTITION
from retour_kit.consuming.applying import apply_events
from retour_kit.consuming.deliveries import Delivery, describe_unreadable, parse_record
from retour_kit.consuming.failures import is_outage
from retour_kit.consuming.handlers import HandleBatch
from retour_kit.consuming.inbox import recorded_events
from retour_kit.consuming.settings import ConsumerSettings, ConsumerSetupError, Subscription
from retour_kit.safe_errors import describe_error
from retour_kit.topic_reading import committed_reader, partitions_of, read_to_ends

log = structlog.stdlib.get_logger(__name__)

DLQ_SUFFIX = ".dlq"


@dataclass
class ReplaySummary:
    dry_run: bool
    dead_letters: int = 0
    """This consumer's dead letters found, one per original record."""
    replayed: int = 0
    """Applied now (in a dry run: would be)."""
    already_applied: int = 0
    failed_again: int = 0
    """Failed again, or unreadable: they stay dead letters (in a dry run: unreadable ones)."""

    def line(self) -> str:
        verb = "would replay" if self.dry_run else "replayed"
        return (
            f"{self.dead_letters} dead letters: {verb} {self.replayed},"
            f" already applied {self.already_applied}, failed again {self.failed_again}"
            + (" (dry run, nothing changed)" if self.dry_run else "")
        )


async def replay_dead_letters(
    settings: ConsumerSettings,
    pool: asyncpg.Pool,
    handler: HandleBatch,
    *,
    topic: str | None = None,
    dry_run: bool = False,
) -> ReplaySummary:
    """Applies this consumer's dead letters again, topic by topic, in their original order.

    Args:
        topic: Only this subscribed topic (its name or its ``.dlq``'s); default: all.
        dry_run: Count what would be replayed, change nothing.

    Raises when Postgres is unavailable: the replay stops there, and running it again later
    skips what it already applied.
    """
    summary = ReplaySummary(dry_run=dry_run)
    for subscription in _chosen(settings, topic):
        letters = await read_dead_letters(settings, subscription)
        summary.dead_letters += len(letters)
        deliveries = [d for d in (_readable(subscription, r, summary) for r in letters) if d]
        if dry_run:
            await _count_only(settings, pool, deliveries, summary)
            continue
        for delivery in deliveries:
            await _replay_one(settings, pool, handler, delivery, summary)
    log.info("dead-letter replay finished", summary=summary.line())
    return summary


def _chosen(settings: ConsumerSettings, topic: str | None) -> tuple[Subscription, ...]:
    if topic is None:
        return settings.subscriptions
    wanted = topic.removesuffix(DLQ_SUFFIX)
    chosen = tuple(s for s in settings.subscriptions if s.kafka_topic == wanted)
    if not chosen:
        known = ", ".join(s.kafka_topic for s in settings.subscriptions)
        raise ConsumerSetupError(f"{topic} is not a topic this consumer reads ({known})")
    return chosen


async def read_dead_letters(settings: ConsumerSettings, subscription: Subscription) -> list[Any]:
    """This consumer's records of ``subscription``'s dead-letter topic, as it stands now: one
    per original record, by original partition and offset."""
    # A reader of no group commits nothing: the replay can be run again, and changes nothing.
    reader = committed_reader(
        settings.bootstrap_servers, client_id=f"{settings.inbox_name}-dlq-replay"
    )
    await reader.start()
    try:
        records = await _read_to_end(reader, subscription.dlq_topic, settings.bootstrap_servers)
    finally:
        await reader.stop()
    ours: dict[tuple[int, int], Any] = {}
    for record in records:
        headers = dict(record.headers)
        if headers.get(DLQ_CONSUMER) != settings.inbox_name.encode():
            continue
        original = (int(headers[DLQ_ORIGINAL_PARTITION]), int(headers[DLQ_ORIGINAL_OFFSET]))
        ours.setdefault(original, record)
    return [ours[original] for original in sorted(ours)]


async def _read_to_end(reader: AIOKafkaConsumer, topic: str, bootstrap_servers: str) -> list[Any]:
    partitions = await partitions_of(bootstrap_servers, topic)
    if not partitions:
        return []  # nothing was ever dead-lettered
    reader.assign(partitions)
    await reader.seek_to_beginning(*partitions)
    ends = await reader.end_offsets(partitions)
    return [record async for chunk in read_to_ends(reader, ends) for record in chunk]


def _readable(subscription: Subscription, letter: Any, summary: ReplaySummary) -> Delivery | None:
    try:
        return parse_record(subscription, letter)
    except Exception as error:
        summary.failed_again += 1
        _log_failure(letter, describe_unreadable(error))
        return None


async def _count_only(
    settings: ConsumerSettings,
    pool: asyncpg.Pool,
    deliveries: Sequence[Delivery],
    summary: ReplaySummary,
) -> None:
    async with pool.acquire() as conn:
        applied = await recorded_events(conn, settings.inbox_name, [d.event_id for d in deliveries])
    for delivery in deliveries:
        # A second dead letter of one event (a producer's resend) would be skipped as applied.
        if delivery.event_id in applied:
            summary.already_applied += 1
        else:
            summary.replayed += 1
            applied.add(delivery.event_id)


async def _replay_one(
    settings: ConsumerSettings,
    pool: asyncpg.Pool,
    handler: HandleBatch,
    delivery: Delivery,
    summary: ReplaySummary,
) -> None:
    try:
        applied = await apply_events(pool, settings.inbox_name, handler, [delivery])
    except Exception as error:
        if is_outage(error):
            raise
        summary.failed_again += 1
        _log_failure(delivery.record, describe_error(error), event_id=str(delivery.event_id))
        return
    summary.replayed += applied.fresh
    summary.already_applied += applied.duplicates


def _log_failure(letter: Any, reason: str, **context: str) -> None:
    headers = dict(letter.headers)
    log.warning(
        "dead letter failed again, it stays in the dead-letter topic",
        dlq_topic=letter.topic,
        dlq_offset=letter.offset,
        original_partition=headers[DLQ_ORIGINAL_PARTITION].decode(),
        original_offset=headers[DLQ_ORIGINAL_OFFSET].decode(),
        reason=reason,
        **context,
    )
