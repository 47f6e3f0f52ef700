"""What a consumer reads, as whom, and how patiently it retries."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from retour_contracts import EventSpec
from retour_kit.waiting import exponential_backoff


class ConsumerSetupError(ValueError):
    """The consumer is misconfigured; raised at construction, never at the first message."""


@dataclass(frozen=True)
class Subscription:
    """One event topic to consume.

    ``topic`` defaults to the event's own topic. Another name is for reading a copy of the
    stream (a test's private topic, a replay topic): records are still parsed as ``spec``'s
    events, and poison ones go to ``<topic>.dlq`` next to the topic they came from.
    """

    spec: EventSpec[Any]
    topic: str | None = None

    @property
    def kafka_topic(self) -> str:
        return self.topic or self.spec.topic

    @property
    def dlq_topic(self) -> str:
        return f"{self.kafka_topic}.dlq"


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """How failures are retried; see ``retour_kit.consuming`` for the classification."""

    handler_attempts: int = 3
    """Tries of one event whose handler raised (alone, each in its own transaction) before
    it is dead-lettered."""
    handler_backoff_seconds: float = 0.2
    """Pause after the first failed try, doubled after each further one."""
    outage_backoff_seconds: float = 0.5
    """First pause while Postgres or Kafka is unavailable, doubled up to the cap."""
    outage_backoff_cap_seconds: float = 30.0

    def handler_pause(self, failed_attempts: int) -> float:
        return exponential_backoff(failed_attempts, first=self.handler_backoff_seconds)

    def outage_pause(self, consecutive_failures: int) -> float:
        return exponential_backoff(
            consecutive_failures,
            first=self.outage_backoff_seconds,
            cap=self.outage_backoff_cap_seconds,
        )


@dataclass(frozen=True, kw_only=True)
class SystematicFailurePolicy:
    """When failing records mean a broken consumer rather than bad events, and how the
    paused consumer probes for the fix (see ``retour_kit.consuming.systematic``).

    A poison record among healthy ones is followed by records that apply, and is
    dead-lettered. When ``threshold`` different records of one topic fail with the same
    classification within ``window_seconds``, with none of that topic applied in between, the
    failure is the consumer's (a missing column, a lost privilege, a code bug): it pauses on
    the first of them instead of dead-lettering the topic.
    """

    threshold: int = 5
    """Different records failing the same way that make a failure systematic. Five records
    in a row of one topic failing identically is already unlikely for bad data; a lower
    number would pause on two neighbouring poison records."""
    window_seconds: float = 120.0
    """How far back failures count. Wide enough for a quiet topic, where failing records
    arrive one by one and are deferred (``verdict_wait_seconds``) until the threshold is
    reached."""
    verdict_wait_seconds: float = 30.0
    """How long a partition waits when its record failed with too little evidence to judge
    (nothing after it in hand, the threshold not reached: a quiet topic); the other
    partitions go on meanwhile, then the record is tried once more and judged for good. A
    poison record at the end of a batch is dead-lettered this much later. At most
    ``window_seconds``, or the failures that should judge it would be forgotten."""
    probe_seconds: float = 5.0
    """First pause before the paused consumer retries its first failing record, doubled
    after each failed probe up to ``probe_cap_seconds``."""
    probe_cap_seconds: float = 120.0

    def __post_init__(self) -> None:
        if self.threshold < 2:
            raise ConsumerSetupError(
                "the systematic failure threshold must be at least 2: one record failing alone"
                " is a poison record, and is dead-lettered"
            )
        if self.window_seconds <= 0 or self.probe_seconds <= 0 or self.verdict_wait_seconds <= 0:
            raise ConsumerSetupError(
                "the failure window, the verdict wait and the probe pause must be positive"
            )
        if self.verdict_wait_seconds > self.window_seconds:
            raise ConsumerSetupError(
                "the verdict wait must not exceed the failure window: the failures it waits"
                " for would be forgotten before the record is judged"
            )
        if self.probe_cap_seconds < self.probe_seconds:
            raise ConsumerSetupError("the probe pause's cap must be at least its first pause")

    def probe_pause(self, failed_probes: int) -> float:
        return exponential_backoff(
            failed_probes + 1, first=self.probe_seconds, cap=self.probe_cap_seconds
        )


@dataclass(frozen=True, kw_only=True)
class ConsumerSettings:
    """Everything an ``EventConsumer`` needs to know about Kafka and its own identity.

    Args:
        bootstrap_servers: Kafka bootstrap servers, ``host:port[,host:port]``.
        group_id: Kafka consumer group; offsets are committed for it. Required: without a
            group there is nothing to commit, and every restart would start over.
        subscriptions: The topics to read.
        consumer_name: Name in the inbox (``inbox.consumer``) and in the ``dlq_consumer``
            header; defaults to ``group_id``. Keep it when the group changes (a replay under a
            new group must still recognise the events it already applied).
        max_records: Upper bound of one poll; a partition's share of it is one transaction.
    """

    bootstrap_servers: str
    group_id: str
    subscriptions: tuple[Subscription, ...]
    consumer_name: str = ""
    client_id: str = ""
    # Large enough that a backlog's poll spans several partitions (applied side by side) and
    # each transaction carries hundreds of events; 500 left the consumer at 0.45 of the
    # ceiling, 2,000 at about 0.6 (docs/performance.md). A quiet topic gives small polls anyway.
    max_records: int = 2000
    poll_timeout_ms: int = 500
    session_timeout_ms: int = 10_000
    heartbeat_interval_ms: int = 3_000
    """Also how soon a member notices that the group is rebalancing."""
    max_poll_interval_ms: int = 300_000
    lag_report_interval_seconds: float = 1.0
    revoke_wait_seconds: float = 10.0
    """How long a rebalance waits for the batch in progress to commit before it proceeds."""
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    systematic: SystematicFailurePolicy = field(default_factory=SystematicFailurePolicy)

    def __post_init__(self) -> None:
        if not self.group_id.strip():
            raise ConsumerSetupError("group_id is required: offsets are committed per group")
        if not self.subscriptions:
            raise ConsumerSetupError("subscriptions must name at least one topic")
        topics = [s.kafka_topic for s in self.subscriptions]
        if len(set(topics)) != len(topics):
            raise ConsumerSetupError(f"a topic is subscribed twice: {sorted(topics)}")
        if any(topic.endswith(".dlq") for topic in topics):
            raise ConsumerSetupError("dead-letter topics are for operators, not for consumers")
        if self.max_records < 1 or self.retry.handler_attempts < 1:
            raise ConsumerSetupError("max_records and handler_attempts must be at least 1")

    @property
    def inbox_name(self) -> str:
        return self.consumer_name or self.group_id

    def subscription_for(self, topic: str) -> Subscription:
        return next(s for s in self.subscriptions if s.kafka_topic == topic)
