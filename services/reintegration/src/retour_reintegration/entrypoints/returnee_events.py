"""Kafka entry point: the one handler of everything reintegration reads about returnees."""

from __future__ import annotations

from collections.abc import Sequence

from retour_contracts import ParsedEvent, RegistrationFacts, ReturneeMerged, ReturneeUpdated
from retour_reintegration.adapters.unit_of_work import CaseWork
from retour_reintegration.entrypoints.corrections import correct_cases_on_updates
from retour_reintegration.entrypoints.merges import merge_cases_on_merges
from retour_reintegration.entrypoints.registrations import open_cases_on_registrations


async def apply_returnee_events(work: CaseWork, events: Sequence[ParsedEvent]) -> None:
    """One consumer batch, in the consumer's transaction (which also writes its inbox rows).

    A batch is one partition of one topic, so it holds one kind of event; should it hold
    several, registrations go first, though the cases would not depend on it (corrections and
    merges are kept, and applied whenever the case is there).
    """
    registrations = [p for p in events if isinstance(p.event, RegistrationFacts)]
    updates = [p for p in events if isinstance(p.event, ReturneeUpdated)]
    merges = [p for p in events if isinstance(p.event, ReturneeMerged)]
    known = registrations + updates + merges
    if len(known) != len(events):
        unexpected = sorted({p.type for p in events} - {p.type for p in known})
        raise TypeError(f"reintegration does not consume {', '.join(unexpected)}")
    if registrations:
        await open_cases_on_registrations(work, registrations)
    if updates:
        await correct_cases_on_updates(work, updates)
    if merges:
        await merge_cases_on_merges(work, merges)
