"""What the use cases and entry points need from the outside world."""

from __future__ import annotations

from typing import Protocol

from retour_reporting.domain.outcomes import KpiReport
from retour_reporting.domain.queries import ReportQuery
from retour_reporting.domain.results import (
    ActivityReport,
    AidReport,
    MonthlyRegistrations,
    RegistrationReport,
)


class ReportSource(Protocol):
    async def registrations(self, query: ReportQuery) -> RegistrationReport: ...
    async def monthly_registrations(self, query: ReportQuery) -> list[MonthlyRegistrations]: ...
    async def aid(self, query: ReportQuery) -> AidReport: ...
    async def activities(self, query: ReportQuery) -> ActivityReport: ...
    async def kpis(self, query: ReportQuery) -> KpiReport: ...


Offsets = dict[tuple[str, int], int]
"""Offset per (topic, partition)."""


class TopicPositions(Protocol):
    """Where the topics end, and how far a consumer group has committed."""

    async def end_offsets(self) -> Offsets: ...
    async def start_offsets(self) -> Offsets: ...
    async def committed(self, group: str) -> Offsets: ...
