"""Expected arrivals: receiving a manifest, proposing matches, withdrawing and closing.

Each write runs in the caller's transaction (the unit of work it is given): a manifest's wave,
every person, their data keys and their ``returnee.expected`` outbox rows commit together or
not at all; a closing's record, the destroyed key and ``expected_arrival.closed`` too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol
from uuid import UUID

from retour_contracts import (
    ExpectationClosure,
    ExpectedArrivalClosed,
    ReturneeExpected,
    seal_expected,
)
from retour_intake.domain.duplicates import PersonKeys
from retour_intake.domain.expected import (
    LAPSED_BY,
    ClosingPerson,
    ExpectedPerson,
    ExpectedStatus,
    Manifest,
    MatchQuery,
    OpenExpected,
    Proposal,
    Wave,
    closure,
    lapse_cutoff,
    proposals,
    received,
)


class ExpectedWork(Protocol):
    """The adapters of one transaction (adapters/pg_expected.py: PgExpected)."""

    async def add_wave(self, wave: Wave) -> None: ...
    async def add_people(self, people: Sequence[ExpectedPerson]) -> None: ...
    async def issue_data_keys(self, expected_ids: Sequence[UUID]) -> dict[UUID, bytes]: ...
    async def publish_expected(
        self, events: Sequence[tuple[ReturneeExpected, UUID]], *, traceparent: str
    ) -> None: ...
    async def open_matching(self, keys: PersonKeys) -> list[OpenExpected]: ...
    async def shown(self, expected_ids: Sequence[UUID]) -> dict[UUID, dict[str, Any]]: ...
    async def record_shown(
        self, actor: str, roles: Sequence[str], route: str, expected_ids: Sequence[UUID]
    ) -> None: ...
    async def lock_within(
        self, expected_id: UUID, *, centres: list[str] | None
    ) -> ClosingPerson | None: ...
    async def lock_due(self, cutoff: date, *, limit: int) -> list[ClosingPerson]: ...
    async def close(
        self, closing: Sequence[ExpectedArrivalClosed], *, withdrawal_reason: str | None = None
    ) -> None: ...


@dataclass(frozen=True)
class Reader:
    """Who asks, from their token: subject, roles, and centres (None: every centre)."""

    subject: str
    roles: Sequence[str]
    centres: list[str] | None


async def receive_manifest(
    work: ExpectedWork,
    manifest: Manifest,
    *,
    announced_by: str,
    traceparent: str,
    now: datetime,
    new_id: Callable[[], UUID],
) -> dict[str, Any]:
    """Records the wave and its people and queues one ``returnee.expected`` per person, each
    sealed under the person's own new data key; returns the answer (ids and counts only)."""
    people = received(
        manifest,
        wave_id=new_id(),
        expected_ids=[new_id() for _ in manifest.people],
        at=now,
        by=announced_by,
    )
    wave = people[0].wave
    await work.add_wave(wave)
    await work.add_people(people)
    keys = await work.issue_data_keys([person.expected_id for person in people])
    events = []
    for person in people:
        event_id = new_id()
        # The event id is the seal's associated data: the block opens in this event only.
        sealed = seal_expected(
            person.entry.personal(), keys[person.expected_id], event_id=str(event_id)
        )
        events.append((person.event(sealed), event_id))
    await work.publish_expected(events, traceparent=traceparent)
    return {
        "wave_id": str(wave.wave_id),
        "wave_name": wave.wave_name,
        "reception_centre": wave.reception_centre.value,
        "expected_date": wave.expected_date.isoformat(),
        "people": wave.size,
        "expected_ids": [str(person.expected_id) for person in people],
    }


MATCHES_ROUTE = "POST /expected-arrivals/matches"


async def find_matches(
    work: ExpectedWork, query: MatchQuery, *, reader: Reader, today: date
) -> list[dict[str, Any]]:
    """The open expected people the person at the door may be, strongest first, shown with
    their personal data (recorded in the access log)."""
    keys = query.keys(today)
    found = proposals(
        keys,
        await work.open_matching(keys),
        centre=query.reception_centre.value if query.reception_centre else None,
        reader_centres=reader.centres,
    )
    shown = await work.shown([proposal.expected_id for proposal in found])
    items = [_proposed(proposal, shown) for proposal in found if proposal.expected_id in shown]
    await work.record_shown(
        reader.subject, reader.roles, MATCHES_ROUTE, [p.expected_id for p in found]
    )
    return items


def _proposed(proposal: Proposal, shown: dict[UUID, dict[str, Any]]) -> dict[str, Any]:
    return {"strength": proposal.strength.value, "expected": shown[proposal.expected_id]}


class ExpectedNotFound(Exception):
    """No expected person with this id within the caller's centres."""


class ExpectedNotOpen(Exception):
    """The expected person already arrived or was closed."""

    def __init__(self, status: str) -> None:
        super().__init__(f"the expected person is {status}")
        self.status = status


async def withdraw(
    work: ExpectedWork,
    expected_id: UUID,
    *,
    reason: str,
    supervisor: Reader,
    now: datetime,
) -> ExpectedArrivalClosed:
    """Closes an open expected person as withdrawn; the reason is kept with the record only."""
    person = await work.lock_within(expected_id, centres=supervisor.centres)
    if person is None:
        raise ExpectedNotFound(expected_id)
    if person.status != ExpectedStatus.OPEN:
        raise ExpectedNotOpen(person.status)
    event = closure(person, reason=ExpectationClosure.WITHDRAWN, at=now, by=supervisor.subject)
    await work.close([event], withdrawal_reason=reason)
    return event


async def close_lapsed(
    work: ExpectedWork, *, today: date, close_after_days: int, now: datetime, batch: int
) -> list[ExpectedArrivalClosed]:
    """Closes up to ``batch`` open people whose time to arrive ran out (one transaction)."""
    due = await work.lock_due(lapse_cutoff(today, close_after_days), limit=batch)
    events = [
        closure(person, reason=ExpectationClosure.LAPSED, at=now, by=LAPSED_BY) for person in due
    ]
    await work.close(events)
    return events
