"""Kafka entry point: a batch of events becomes projection rows, in the batch's transaction."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from retour_contracts import (
    ActivityLaunched,
    AidGranted,
    CaseClosed,
    CaseReopened,
    ExpectedArrivalClosed,
    FollowUpScheduled,
    ParsedEvent,
    PlanAgreed,
    ReferralUpdated,
    RegistrationFacts,
    ReintegrationAssessed,
    ReturneeExpected,
    ReturneeMerged,
    ReturneeUpdated,
)
from retour_kit.unit_of_work import HandleWith
from retour_reporting.adapters.pg_projections import PgProjectionStore
from retour_reporting.adapters.projection_metrics import ProjectionMetrics
from retour_reporting.domain.case_lifecycle import ScheduledVisit
from retour_reporting.domain.projection import Projected, rows_for
from retour_reporting.usecases.projecting import apply_rows


def projecting(
    metrics: ProjectionMetrics | None,
) -> HandleWith[PgProjectionStore]:
    """The consumer's batch handler: a few statements for the whole batch."""

    async def project(store: PgProjectionStore, events: Sequence[ParsedEvent]) -> None:
        await apply_rows(store, rows_for(_business_events(events)))
        if metrics is not None:
            metrics.applied(events)

    return project


def _business_events(events: Sequence[ParsedEvent]) -> Iterator[Projected]:
    # Reporting subscribes to the business topics, corrections, merges, the case events and
    # the expected arrivals it reports on only (main.py), and holds no personal data to forget:
    # anything else here is a wiring mistake, which dead-letters loudly. The sealed personal
    # block of an update or of an expected person is never opened: reporting has no data key.
    for parsed in events:
        event = parsed.event
        if isinstance(event, FollowUpScheduled):
            # Only the moment it was published tells two schedules of one visit apart.
            yield ScheduledVisit(event, parsed.time)
        elif isinstance(event, _PROJECTED):
            yield event
        else:
            raise TypeError(f"reporting does not consume {parsed.type}")


_PROJECTED = (
    RegistrationFacts,
    AidGranted,
    ActivityLaunched,
    ReturneeUpdated,
    ReturneeMerged,
    CaseClosed,
    CaseReopened,
    PlanAgreed,
    ReferralUpdated,
    ReintegrationAssessed,
    ReturneeExpected,
    ExpectedArrivalClosed,
)
"""What the projections are made of (a registration in either version is RegistrationFacts)."""
