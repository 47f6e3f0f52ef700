"""Kafka entry point: a batch of events becomes projection rows, in the batch's transaction."""

from __future__ import annotations

from collections.abc import Sequence

from retour_contracts import ParsedEvent
from retour_kit.consuming import HandleBatch
from retour_kit.db import Connection
from retour_reporting.adapters.pg_projections import PgProjectionStore
from retour_reporting.adapters.projection_metrics import ProjectionMetrics
from retour_reporting.domain.projection import rows_for


def projecting(metrics: ProjectionMetrics | None) -> HandleBatch:
    """The consumer's batch handler: one INSERT per table for the whole batch."""

    async def project(conn: Connection, events: Sequence[ParsedEvent]) -> None:
        await PgProjectionStore(conn).write(rows_for(parsed.event for parsed in events))
        if metrics is not None:
            metrics.applied(events)

    return project
