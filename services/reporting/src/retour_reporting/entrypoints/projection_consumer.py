"""Kafka entry point: a batch of events becomes projection rows, in the batch's transaction."""

from __future__ import annotations

from collections.abc import Sequence

from retour_contracts import ParsedEvent
from retour_kit.unit_of_work import HandleWith
from retour_reporting.adapters.pg_projections import PgProjectionStore
from retour_reporting.adapters.projection_metrics import ProjectionMetrics
from retour_reporting.domain.projection import rows_for


def projecting(
    metrics: ProjectionMetrics | None,
) -> HandleWith[PgProjectionStore]:
    """The consumer's batch handler: one INSERT per table for the whole batch."""

    async def project(store: PgProjectionStore, events: Sequence[ParsedEvent]) -> None:
        await store.write(rows_for(parsed.event for parsed in events))
        if metrics is not None:
            metrics.applied(events)

    return project
