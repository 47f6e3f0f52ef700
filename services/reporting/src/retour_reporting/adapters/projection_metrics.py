"""How fresh the projections are, next to the kit's ``consumer_lag`` (records not yet read).

``time() - reporting_projection_last_event_time_seconds`` is the age of the newest event the
reports include; ``reporting_projection_delay_seconds`` is how long events took from being
produced (``ce_time``) to being in the reports.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Gauge, Histogram

from retour_contracts import ParsedEvent

# From a sub-second live path up to a replay of old history.
_DELAY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600, 86400)


class ProjectionMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self._last_event_time = Gauge(
            "reporting_projection_last_event_time_seconds",
            "Production time (ce_time) of the newest event applied to the projections.",
            ["topic"],
            registry=registry,
        )
        self._last_applied_time = Gauge(
            "reporting_projection_last_applied_time_seconds",
            "When this instance last applied events to the projections (Unix time).",
            ["topic"],
            registry=registry,
        )
        self._delay = Histogram(
            "reporting_projection_delay_seconds",
            "Time from an event's production (ce_time) to its projection.",
            ["topic"],
            buckets=_DELAY_BUCKETS,
            registry=registry,
        )
        self._newest: dict[str, float] = {}

    def applied(self, events: Sequence[ParsedEvent]) -> None:
        # Called inside the batch transaction, just before it commits: a batch that then
        # fails to commit is retried, so the figures are at most one batch early.
        now = time.time()
        produced_by_topic: dict[str, list[float]] = defaultdict(list)
        for parsed in events:
            produced_by_topic[parsed.spec.topic].append(parsed.time.timestamp())
        for topic, produced in produced_by_topic.items():
            delay = self._delay.labels(topic)
            for moment in produced:
                delay.observe(max(0.0, now - moment))
            newest = max(produced)
            if newest > self._newest.get(topic, float("-inf")):
                self._newest[topic] = newest
                self._last_event_time.labels(topic).set(newest)
            self._last_applied_time.labels(topic).set(now)
