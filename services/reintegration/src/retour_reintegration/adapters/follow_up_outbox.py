"""The outbox of a consumer batch: its events (mostly follow_up.scheduled, three per case a
registration batch opens; case.closed for duplicates) queued together, in one statement
(``retour_kit.outbox.enqueue_many``), when the batch's transaction is about to commit. Each event
continues the trace of the batch's (latest) record about its returnee, as a request's events
continue the request's.
"""

from __future__ import annotations

from collections.abc import Mapping
from uuid import UUID

from retour_contracts import (
    ActivityLaunched,
    AidGranted,
    CaseEvent,
    Envelope,
    build_envelope,
    new_traceparent,
    spec_for_model,
)
from retour_kit.db import Connection
from retour_kit.outbox import enqueue_many
from retour_reintegration.adapters.outbox_events import SOURCE


class BatchedOutbox:
    """Collects the events of one consumer batch; ``flush`` queues them, in the batch's
    transaction, before it commits."""

    def __init__(self, conn: Connection, *, traces: Mapping[UUID, str]) -> None:
        self._conn = conn
        self._traces = traces
        self._queued: list[Envelope] = []

    async def emit(self, event: AidGranted | ActivityLaunched | CaseEvent) -> None:
        spec = spec_for_model(type(event))
        # Every event of the consumer's path is about a returnee of the batch; a new trace is
        # only a fallback, never a reason to refuse the batch.
        returnee_id = getattr(event, "returnee_id", None)
        trace = self._traces.get(returnee_id) if isinstance(returnee_id, UUID) else None
        trace = trace or new_traceparent()
        self._queued.append(build_envelope(spec, event, source=SOURCE, traceparent=trace))

    async def flush(self) -> int:
        queued, self._queued = self._queued, []
        await enqueue_many(self._conn, queued)
        return len(queued)
