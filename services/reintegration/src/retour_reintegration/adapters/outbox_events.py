"""Emits reintegration's events through the kit's transactional outbox."""

from __future__ import annotations

from retour_contracts import (
    ActivityLaunched,
    AidGranted,
    CaseEvent,
    build_envelope,
    spec_for_model,
)
from retour_kit.db import Connection
from retour_kit.outbox import enqueue

SOURCE = "/reintegration"


class OutboxEvents:
    def __init__(self, conn: Connection, *, traceparent: str) -> None:
        self._conn = conn
        self._traceparent = traceparent  # the request's trace, carried into the event

    async def emit(self, event: AidGranted | ActivityLaunched | CaseEvent) -> None:
        spec = spec_for_model(type(event))
        envelope = build_envelope(spec, event, source=SOURCE, traceparent=self._traceparent)
        await enqueue(self._conn, envelope, topic=spec.topic)
