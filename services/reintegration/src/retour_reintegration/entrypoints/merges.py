"""Kafka entry point: returnee.merged events close the duplicate registrations' cases, and count
what was granted under them for the person's case."""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from retour_contracts import ParsedEvent, ReturneeMerged
from retour_reintegration.adapters.unit_of_work import CaseWork
from retour_reintegration.domain.merges import Merge
from retour_reintegration.usecases import Lifecycle, apply_merges

log = structlog.stdlib.get_logger(__name__)


async def merge_cases_on_merges(
    work: CaseWork, events: Sequence[ParsedEvent], lifecycle: Lifecycle
) -> None:
    """One consumer batch (new events only, one transaction, with their inbox rows)."""
    merges: list[Merge] = []
    for parsed in events:
        if not isinstance(parsed.event, ReturneeMerged):
            raise TypeError(f"expected returnee.merged, got {parsed.type}")
        merges.append(Merge.of(parsed.event))
    applied = await apply_merges(work.cases, merges, lifecycle=lifecycle)
    # Counts only. A merge whose registrations are not read yet is not an error (other
    # topics): it is kept, and the duplicate's case opens closed when its registration comes.
    log.info(
        "registrations merged",
        merges=len(events),
        kept=applied.kept,
        closed=applied.closed,
        waiting_for_registration=applied.waiting,
        refused_as_cycles=applied.refused,
    )
