"""Reintegration's adapters, bound to the one connection of a request or a consumer batch
(retour_kit.unit_of_work): the case, its outbox row and its idempotency key commit together."""

from __future__ import annotations

from collections.abc import Callable

from retour_kit.db import Connection
from retour_kit.idempotency import PgIdempotencyKeys
from retour_reintegration.adapters.outbox_events import OutboxEvents
from retour_reintegration.adapters.pg_cases import PgCaseRepository
from retour_reintegration.views.queries import CaseViews


class CaseWork:
    def __init__(self, conn: Connection, *, schema: str) -> None:
        self._conn = conn
        self._schema = schema
        self.cases = PgCaseRepository(conn)
        self.views = CaseViews(conn)
        self.idempotency_keys = PgIdempotencyKeys(conn)

    def events(self, *, traceparent: str) -> OutboxEvents:
        """The outbox, with the trace of the request that causes the events."""
        return OutboxEvents(self._conn, schema=self._schema, traceparent=traceparent)

    @classmethod
    def binder(cls, schema: str) -> Callable[[Connection], CaseWork]:
        return lambda conn: cls(conn, schema=schema)
