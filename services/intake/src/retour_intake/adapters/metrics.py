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
        # Expected arrivals: counts only, labelled by centre (no wave names: a sender's
        # free text).
        self.manifests = Counter(
            "intake_expected_manifests", "Manifests received", ["centre"], registry=registry
        )
        self.people_expected = Counter(
            "intake_expected_people", "People announced by manifests", ["centre"], registry=registry
        )
        self.expected_linked = Counter(
            "intake_expected_linked",
            "Registrations linked to an expected person",
            ["centre"],
            registry=registry,
        )
        self.expected_closed = Counter(
            "intake_expected_closed",
            "Expected people closed without registering (lapsed or withdrawn)",
            ["centre"],
            registry=registry,
        )
