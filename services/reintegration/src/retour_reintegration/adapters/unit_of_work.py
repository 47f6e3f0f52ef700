"""Reintegration's adapters, bound to the one connection of a request or a consumer batch
(retour_kit.unit_of_work): the case, its outbox row and its idempotency key commit together."""

from __future__ import annotations

from collections.abc import Mapping
from uuid import UUID

from retour_kit.db import Connection
from retour_kit.idempotency import PgIdempotencyKeys
from retour_reintegration.adapters.assessments import PgAssessments
from retour_reintegration.adapters.follow_up_outbox import BatchedOutbox
from retour_reintegration.adapters.follow_ups import PgFollowUps
from retour_reintegration.adapters.outbox_events import OutboxEvents
from retour_reintegration.adapters.partners_pg import PgPartners
from retour_reintegration.adapters.pg_cases import PgCaseRepository
from retour_reintegration.adapters.plans_pg import PgPlans
from retour_reintegration.adapters.referrals_pg import PgReferrals
from retour_reintegration.adapters.staff_roster import PgCaseWorkerRoster
from retour_reintegration.views.queries import CaseViews


class CaseWork:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self.cases = PgCaseRepository(conn)
        self.views = CaseViews(conn)
        self.idempotency_keys = PgIdempotencyKeys(conn)
        self.partners = PgPartners(conn)
        self.plans = PgPlans(conn)
        self.referrals = PgReferrals(conn)
        self.roster = PgCaseWorkerRoster(conn)
        self.follow_ups = PgFollowUps(conn)
        self.assessments = PgAssessments(conn)

    def events(self, *, traceparent: str) -> OutboxEvents:
        """The outbox, with the trace of the request that causes the events."""
        return OutboxEvents(self._conn, traceparent=traceparent)

    def batch_events(self, *, traces: Mapping[UUID, str]) -> BatchedOutbox:
        """A consumer batch's outbox, each event with its returnee's record's trace; flushed
        once, before the batch commits."""
        return BatchedOutbox(self._conn, traces=traces)
