"""Kafka entry point: returnee.registered events open the returnees' cases, and schedule their
monitoring visits."""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from retour_contracts import ParsedEvent, RegistrationFacts
from retour_reintegration.adapters.unit_of_work import CaseWork
from retour_reintegration.usecases import Lifecycle, open_cases

log = structlog.stdlib.get_logger(__name__)


async def open_cases_on_registrations(
    work: CaseWork, events: Sequence[ParsedEvent], lifecycle: Lifecycle
) -> None:
    """One consumer batch (new events only, one transaction): one insert for all its cases."""
    # Any version: a case needs the facts only, never the personal block (sealed or not).
    registrations: list[RegistrationFacts] = []
    for parsed in events:
        if not isinstance(parsed.event, RegistrationFacts):
            raise TypeError(f"expected returnee.registered, got {parsed.type}")
        registrations.append(parsed.event)
    opened = await open_cases(work.cases, registrations, lifecycle=lifecycle)
    # A registration whose returnee already has a case is a second registration event, not a
    # redelivery (the inbox catches those): the first one opened the case.
    log.info("cases opened", opened=opened, already_open=len(registrations) - opened)
