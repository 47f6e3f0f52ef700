"""Prometheus view of a service's outbox: backlog, age of its oldest row, publications, and
whether this instance's relay leads."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class PrometheusOutboxMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self._backlog = Gauge(
            "outbox_backlog_rows",
            "Events stored but not yet acknowledged by Kafka",
            registry=registry,
        )
        self._oldest = Gauge(
            "outbox_oldest_row_age_seconds",
            "Age of the oldest unpublished event",
            registry=registry,
        )
        self._published = Counter(
            "outbox_published_events", "Events published to Kafka by the relay", registry=registry
        )
        self._failures = Counter(
            "outbox_publish_failures", "Failed publication attempts (retried)", registry=registry
        )
        self._leader = Gauge(
            "outbox_relay_is_leader",
            "1 while this instance's relay holds the outbox leadership",
            registry=registry,
        )
        self._terms = Counter(
            "outbox_relay_leadership_terms",
            "Times this instance's relay became the leader (a leader change, seen from here)",
            registry=registry,
        )

    def published(self, count: int) -> None:
        self._published.inc(count)

    def publish_failed(self) -> None:
        self._failures.inc()

    def backlog(self, size: int, oldest_age_seconds: float) -> None:
        self._backlog.set(size)
        self._oldest.set(oldest_age_seconds)

    def leading(self, is_leader: bool) -> None:
        self._leader.set(1 if is_leader else 0)
        if is_leader:
            self._terms.inc()
