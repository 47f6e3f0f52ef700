"""Intake's business metrics (HTTP and outbox metrics come from the kit)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter


class IntakeMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registrations = Counter(
            "intake_registrations", "Returnees registered", ["centre"], registry=registry
        )
        self.duplicates_blocked = Counter(
            "intake_duplicates_blocked",
            "Registrations refused as strong duplicates",
            registry=registry,
        )
        self.duplicates_flagged = Counter(
            "intake_duplicates_flagged",
            "Registrations stored with possible duplicates",
            registry=registry,
        )
        self.idempotent_replays = Counter(
            "intake_idempotent_replays",
            "Requests answered from an earlier Idempotency-Key",
            registry=registry,
        )
