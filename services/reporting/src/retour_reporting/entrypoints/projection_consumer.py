"""Kafka entry point: a batch of events becomes projection rows, in the batch's transaction."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from retour_contracts import ConsentChanged, Event, ParsedEvent, ReturneeErased
from retour_kit.unit_of_work import HandleWith
from retour_reporting.adapters.pg_projections import PgProjectionStore
from retour_reporting.adapters.projection_metrics import ProjectionMetrics
from retour_reporting.domain.projection import rows_for


def projecting(
    metrics: ProjectionMetrics | None,
) -> HandleWith[PgProjectionStore]:
    """The consumer's batch handler: one INSERT per table for the whole batch."""

    async def project(store: PgProjectionStore, events: Sequence[ParsedEvent]) -> None:
        await store.write(rows_for(_business_events(events)))
        if metrics is not None:
            metrics.applied(events)

    return project


def _business_events(events: Sequence[ParsedEvent]) -> Iterator[Event]:
    # Reporting subscribes to the three business topics only (main.py), and holds no personal
    # data to forget: anything else here is a wiring mistake, which dead-letters loudly.
    for parsed in events:
        if isinstance(parsed.event, ReturneeErased | ConsentChanged):
            raise TypeError(f"reporting does not consume {parsed.type}")
        yield parsed.event
