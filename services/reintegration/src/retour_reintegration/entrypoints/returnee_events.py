"""Kafka entry point: the one handler of everything reintegration reads about returnees."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from retour_contracts import ParsedEvent, RegistrationFacts, ReturneeMerged, ReturneeUpdated
from retour_reintegration.adapters.unit_of_work import CaseWork
from retour_reintegration.domain.follow_up import DEFAULT_PERIODS
from retour_reintegration.entrypoints.corrections import correct_cases_on_updates
from retour_reintegration.entrypoints.merges import merge_cases_on_merges
from retour_reintegration.entrypoints.registrations import open_cases_on_registrations
from retour_reintegration.usecases import Lifecycle

Handler = Callable[[CaseWork, Sequence[ParsedEvent]], Awaitable[None]]


def returnee_events_handler(periods: tuple[int, ...] = DEFAULT_PERIODS) -> Handler:
    """``apply_returnee_events``, scheduling new cases' visits at ``periods`` (the setting)."""

    async def handle(work: CaseWork, events: Sequence[ParsedEvent]) -> None:
        await apply_returnee_events(work, events, periods=periods)

    return handle


async def apply_returnee_events(
    work: CaseWork,
    events: Sequence[ParsedEvent],
    *,
    periods: tuple[int, ...] = DEFAULT_PERIODS,
) -> None:
    """One consumer batch, in the consumer's transaction (which also writes its inbox rows).

    A batch is one partition of one topic, so it holds one kind of event; should it hold
    several, registrations go first, though the cases would not depend on it (corrections and
    merges are kept, and applied whenever the case is there). What the batch causes (visits
    scheduled or moved, cases closed as duplicates) leaves through the outbox in the same
    transaction.
    """
    registrations = [p for p in events if isinstance(p.event, RegistrationFacts)]
    updates = [p for p in events if isinstance(p.event, ReturneeUpdated)]
    merges = [p for p in events if isinstance(p.event, ReturneeMerged)]
    known = registrations + updates + merges
    if len(known) != len(events):
        unexpected = sorted({p.type for p in events} - {p.type for p in known})
        raise TypeError(f"reintegration does not consume {', '.join(unexpected)}")
    # Every event consumed is about one returnee; what it causes continues its trace.
    traces = {p.event.returnee_id: p.traceparent for p in known if hasattr(p.event, "returnee_id")}
    outbox = work.batch_events(traces=traces)
    lifecycle = Lifecycle(follow_ups=work.follow_ups, outbox=outbox, periods=periods)
    if registrations:
        await open_cases_on_registrations(work, registrations, lifecycle)
    if updates:
        await correct_cases_on_updates(work, updates, lifecycle)
    if merges:
        await merge_cases_on_merges(work, merges, lifecycle)
    await outbox.flush()
