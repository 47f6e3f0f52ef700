"""One registration desk for every way in (the JSON API, OpenRosa submissions): the checks
that need the caller and the service's settings, the use case, and what is counted and logged.
Each entry point only translates its request in and the outcome (or exception) out."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime

import structlog

from retour_intake.adapters.metrics import IntakeMetrics
from retour_intake.domain.commands import RegisterReturnee
from retour_intake.domain.registration import DuplicateSuspected, Registrar
from retour_intake.use_cases import RegistrationResult, RegistrationUnitOfWork, register_returnee
from retour_kit.auth import Principal
from retour_kit.idempotency import scoped_key
from retour_kit.logging import bound_event_context
from retour_kit.tracing import continued_trace, trace_id
from retour_kit.unit_of_work import UnitOfWork

log = structlog.stdlib.get_logger(__name__)


class OutsideYourCentres(Exception):
    """The registration is for a reception centre the caller does not work at."""


@dataclass(frozen=True)
class RegistrationDesk:
    registrations: UnitOfWork[RegistrationUnitOfWork]
    metrics: IntakeMetrics
    programme_start: date

    async def register(
        self,
        command: RegisterReturnee,
        principal: Principal,
        *,
        idempotency_key: str,
        traceparent: str | None,
    ) -> RegistrationResult:
        """Registers for ``principal``, or replays the answer to their earlier request with
        the same key. Raises OutsideYourCentres, InvalidField, DuplicateSuspected,
        OverrideRefused or IdempotencyKeyReused, each before anything is kept."""
        if not principal.works_at(command.reception_centre):
            raise OutsideYourCentres()
        command.check_arrival_in_programme(self.programme_start)
        trace = continued_trace(traceparent)
        try:
            result = await register_returnee(
                self.registrations.transaction,
                command,
                registrar=Registrar(principal.subject, tuple(sorted(principal.roles))),
                idempotency_key=scoped_key(principal.subject, idempotency_key),
                traceparent=trace,
                now=lambda: datetime.now(UTC),
                new_id=uuid.uuid4,
            )
        except DuplicateSuspected:
            self.metrics.duplicates_blocked.inc()
            raise
        self._count(result, trace)
        return result

    def _count(self, result: RegistrationResult, trace: str) -> None:
        if result.replayed:
            self.metrics.idempotent_replays.inc()
            return
        if result.event is None:
            return
        centre = result.event.reception_centre.value
        self.metrics.registrations.labels(centre).inc()
        if result.event.possible_duplicate_of:
            self.metrics.duplicates_flagged.inc()
        if result.event.expected_id is not None:
            self.metrics.expected_linked.labels(centre).inc()
        with bound_event_context(
            returnee_id=str(result.event.returnee_id),
            event_id=str(result.event_id),
            trace_id=trace_id(trace),
        ):
            log.info("returnee registered", centre=centre)
