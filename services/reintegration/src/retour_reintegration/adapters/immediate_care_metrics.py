"""The immediate-care watch as a Prometheus gauge, per reception centre and window."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Gauge

from retour_reintegration.domain.immediate_care import CareAtRisk, every_centre


class ImmediateCareGauge:
    def __init__(self, registry: CollectorRegistry) -> None:
        self._pending = Gauge(
            "reintegration_immediate_care_pending",
            "Open cases with no immediate aid yet, by reception centre: window"
            ' "due_within_24h", their 72 hours after arrival end within a day; "overdue",'
            " they ended in the last 7 days. Counts only. Every replica reports the same figure.",
            ["centre", "window"],
            registry=registry,
        )
        self._checked = Gauge(
            "reintegration_immediate_care_checked_time_seconds",
            "When the figures of reintegration_immediate_care_pending were last computed.",
            registry=registry,
        )

    def publish(self, found: list[CareAtRisk], *, at: float) -> None:
        for risk in every_centre(found):
            self._pending.labels(risk.centre.value, "due_within_24h").set(risk.due_within_24h)
            self._pending.labels(risk.centre.value, "overdue").set(risk.overdue)
        self._checked.set(at)
