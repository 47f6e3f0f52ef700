"""Prometheus view of a service's outbox: backlog, age of its oldest row, publications."""

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

    def published(self, count: int) -> None:
        self._published.inc(count)

    def publish_failed(self) -> None:
        self._failures.inc()

    def backlog(self, size: int, oldest_age_seconds: float) -> None:
        self._backlog.set(size)
        self._oldest.set(oldest_age_seconds)
