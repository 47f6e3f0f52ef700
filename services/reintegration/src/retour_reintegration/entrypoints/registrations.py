"""Kafka entry point: a returnee.registered event opens the returnee's case."""

from __future__ import annotations

import structlog

from retour_contracts import ParsedEvent, ReturneeRegistered
from retour_kit.consuming import DbConnection
from retour_reintegration.adapters.pg_cases import PgCaseRepository
from retour_reintegration.usecases import open_case

log = structlog.stdlib.get_logger(__name__)


async def open_case_on_registration(conn: DbConnection, parsed: ParsedEvent) -> None:
    registration = parsed.event
    if not isinstance(registration, ReturneeRegistered):
        raise TypeError(f"expected returnee.registered, got {parsed.type}")
    opened = await open_case(PgCaseRepository(conn), registration)
    if opened:
        log.info("case opened", returnee_id=str(registration.returnee_id))
    else:
        # A second registration event for the same returnee (not a redelivery: the inbox
        # catches those); the first one opened the case.
        log.info("case already open", returnee_id=str(registration.returnee_id))
