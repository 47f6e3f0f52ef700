"""Kafka entry point: returnee.updated events correct the returnees' cases, or move them to the
centre the person was transferred to."""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from retour_contracts import ParsedEvent, ReturneeUpdated
from retour_reintegration.adapters.unit_of_work import CaseWork
from retour_reintegration.domain.corrections import Correction
from retour_reintegration.usecases import Lifecycle, apply_corrections

log = structlog.stdlib.get_logger(__name__)


async def correct_cases_on_updates(
    work: CaseWork, events: Sequence[ParsedEvent], lifecycle: Lifecycle
) -> None:
    """One consumer batch (new events only, one transaction, with their inbox rows)."""
    corrections: list[Correction] = []
    for parsed in events:
        if not isinstance(parsed.event, ReturneeUpdated):
            raise TypeError(f"expected returnee.updated, got {parsed.type}")
        # The facts only: the sealed personal block is never opened by reintegration.
        correction = Correction.of(parsed.event)
        if correction is not None:
            corrections.append(correction)
    applied = await apply_corrections(work.cases, corrections, lifecycle=lifecycle)
    # Counts only; a correction waiting for its registration is not an error: the other
    # topic may simply not have been read that far yet.
    log.info(
        "cases corrected",
        updates=len(events),
        kept=applied.kept,
        changed=applied.changed,
        waiting_for_registration=applied.waiting,
    )
