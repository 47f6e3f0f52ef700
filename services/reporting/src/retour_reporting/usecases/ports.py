"""What the use cases and entry points need from the outside world."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Protocol
from uuid import UUID

from retour_reporting.domain.case_results import (
    ClosureReport,
    FollowUpReport,
    PlanReport,
    ReferralReport,
    SustainabilityReport,
)
from retour_reporting.domain.corrections import FieldChange
from retour_reporting.domain.expected_results import ExpectedArrivalsReport
from retour_reporting.domain.merges import KeptMerge, Merge
from retour_reporting.domain.outcomes import KpiReport
from retour_reporting.domain.projection import ProjectionRows, RegistrationRow
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
    async def plans(self, query: ReportQuery) -> PlanReport: ...
    async def referrals(self, query: ReportQuery) -> ReferralReport: ...
    async def follow_ups(self, query: ReportQuery) -> FollowUpReport: ...
    async def sustainability(self, query: ReportQuery) -> SustainabilityReport: ...
    async def closures(self, query: ReportQuery) -> ClosureReport: ...
    async def expected_arrivals(self, query: ReportQuery) -> ExpectedArrivalsReport: ...


class ProjectionStore(Protocol):
    """The projections, inside the transaction of the batch being applied."""

    async def lock_registrations(self, *, exclusive: bool) -> None:
        """Until the transaction ends: shared, other holders may write registrations too;
        exclusive, no other transaction writes registrations, changes or merges meanwhile,
        and every one that did has committed (or rolled back) by the time this returns."""

    async def record_changes(self, changes: Sequence[FieldChange]) -> None:
        """Keeps each change unless a change of the same version or newer is kept for that
        person and field (``changes`` holds at most one change per person and field)."""

    async def changes_of(self, returnee_ids: Collection[UUID]) -> list[FieldChange]:
        """The changes kept for these people: the newest of each of their fields."""

    async def registrations_of(self, returnee_ids: Collection[UUID]) -> list[RegistrationRow]:
        """The registration rows of those of these people whose registration arrived."""

    async def record_merges(self, merges: Sequence[Merge]) -> None:
        """Keeps each merge unless the one kept for its merged registration supersedes it
        (``domain.merges.supersedes``; ``merges`` holds at most one per merged registration).
        Whom a newly kept merge counts as is settled by ``count_as`` in the same transaction."""

    async def merges(self) -> list[KeptMerge]:
        """Every merge kept, with whom its registration counts as."""

    async def count_as(self, people: Mapping[UUID, UUID]) -> None:
        """Records whom each of these merged registrations counts as."""

    async def write(self, rows: ProjectionRows) -> None:
        """Adds the rows of new business ids; a row whose id is there already is left as is,
        except a referral or a visit, replaced by a newer status or schedule
        (``domain.case_lifecycle``). ``rows.changes`` and ``rows.merges`` are not written here
        (``record_changes``, ``record_merges``)."""

    async def replace_registrations(self, rows: Sequence[RegistrationRow]) -> None:
        """Overwrites the registration rows of these people with ``rows``."""


Offsets = dict[tuple[str, int], int]
"""Offset per (topic, partition)."""


class TopicPositions(Protocol):
    """Where the topics end, and how far a consumer group has committed."""

    async def end_offsets(self) -> Offsets: ...
    async def start_offsets(self) -> Offsets: ...
    async def committed(self, group: str) -> Offsets: ...
