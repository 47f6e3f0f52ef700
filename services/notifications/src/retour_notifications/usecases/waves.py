"""Counting the people of each announced wave, and queueing its summary once the whole wave
was read (domain/waves.py): to the centre team, and to the centre's extra addresses.

Runs in the consumer's transaction, with the batch's inbox rows: a redelivered event is skipped
by the kit before it gets here, and a person read again under another event id (a manifest sent
again) is counted once, by ``expected_id``. Each wave of the batch is locked first, so of two
batches (partitions, replicas) that complete it at the same time one decides the summary and
the other finds it decided; the decision, its mark on the wave and the ledger rows commit
together. The senders deliver the rows like every email, retried when the relay fails, and
never twice (pg_queue.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

import structlog

from retour_contracts import ReturneeExpected
from retour_notifications.domain.delivery import Notification, Status
from retour_notifications.domain.waves import (
    EXPECTED,
    WAVE_SUMMARY_RULE,
    ExpectedPerson,
    Wave,
    WaveSummary,
    is_complete,
    summarise,
    summary_addresses,
    summary_notification_id,
    team_recipient,
)
from retour_notifications.usecases.ports import LedgerWriter
from retour_notifications.usecases.record import Recording, composed_row

log = structlog.stdlib.get_logger(__name__)

QUEUED, STALE = "queued", "stale"


@dataclass(frozen=True)
class ExpectedRead:
    """A ``returnee.expected`` as the consumer read it (its sealed block left sealed)."""

    event: ReturneeExpected
    event_id: UUID
    published_at: datetime


class ExpectedWaves(Protocol):
    async def lock(self, waves: Sequence[Wave]) -> dict[UUID, tuple[Wave, bool]]:
        """Each wave as first recorded (recorded now if new), locked for the transaction, and
        whether its summary was decided already."""
        ...

    async def add_people(self, people: Sequence[ExpectedPerson]) -> None:
        """Records the people not read before (by expected_id)."""
        ...

    async def people_read(self, wave_id: UUID) -> int: ...
    async def people_of(self, wave_id: UUID) -> list[ExpectedPerson]: ...
    async def mark_summarised(self, wave_id: UUID, summary: str) -> None:
        """Remembers how the summary was decided, and forgets the wave's people."""
        ...


@dataclass(frozen=True)
class WaveSummaries:
    """What summarising needs that does not change from one event to the next."""

    recording: Recording
    """Its composer, the centre teams' addresses (CENTRE_TEAM_EMAILS: every centre has one),
    the teams' language (TEAM_LANGUAGE) and MAX_EVENT_AGE_HOURS: a wave completed by an event
    published longer ago is not summarised (a replay of old history must not announce waves
    that arrived long ago)."""
    extra_addresses: Mapping[str, Sequence[str]]
    """Addresses besides the centre team, by reception centre (WAVE_SUMMARY_EMAILS); a centre
    not listed has none."""


@dataclass(frozen=True)
class Summarised:
    """A wave completed by this batch, and how its summary was decided."""

    wave_id: UUID
    outcome: str
    rows: list[Notification]


async def record_expected(
    batch: Sequence[ExpectedRead],
    *,
    waves: ExpectedWaves,
    ledger: LedgerWriter,
    summaries: WaveSummaries,
    now: datetime,
) -> list[Summarised]:
    """Records the people of ``batch`` and decides the summary of each wave they complete."""
    if not batch:
        return []
    first_of_wave: dict[UUID, ExpectedRead] = {}
    last_of_wave: dict[UUID, ExpectedRead] = {}
    for read in batch:
        first_of_wave.setdefault(read.event.wave_id, read)
        last_of_wave[read.event.wave_id] = read
    described = sorted((Wave.of(r.event) for r in first_of_wave.values()), key=_by_id)
    stored = await waves.lock(described)  # the lock, first: see the module's docstring
    open_waves = {wave_id for wave_id, (_, summarised) in stored.items() if not summarised}
    # A person of a wave already summarised is only recorded (the inbox row): nothing to count.
    await waves.add_people(
        [ExpectedPerson.of(r.event) for r in batch if r.event.wave_id in open_waves]
    )
    done: list[Summarised] = []
    for wave_id in sorted(open_waves):
        wave = stored[wave_id][0]
        if not is_complete(wave, await waves.people_read(wave_id)):
            continue  # counted only: a wave of hundreds is read once, when it is whole
        people = await waves.people_of(wave_id)
        summarised = _decide(summarise(wave, people), last_of_wave[wave_id], summaries, now)
        await ledger.add(summarised.rows)
        await waves.mark_summarised(wave_id, summarised.outcome)
        done.append(summarised)
    return done


def _decide(
    summary: WaveSummary, completed_by: ExpectedRead, summaries: WaveSummaries, now: datetime
) -> Summarised:
    wave = summary.wave
    facts = {"wave_id": str(wave.wave_id), "reception_centre": wave.reception_centre}
    if now - completed_by.published_at > summaries.recording.max_event_age:
        log.info("wave summary not sent: its events are too old", **facts)
        return Summarised(wave.wave_id, STALE, [])
    # Indexed, not looked up: Settings refuses to start without a team address for every
    # centre, so every wave has someone to tell.
    addresses = summary_addresses(
        summaries.recording.team_addresses[wave.reception_centre],
        summaries.extra_addresses.get(wave.reception_centre, ()),
    )
    rows = [_row(summary, address, completed_by, summaries.recording) for address in addresses]
    log.info("wave summary queued", people=summary.people, emails=len(rows), **facts)
    return Summarised(wave.wave_id, QUEUED, rows)


def _row(
    summary: WaveSummary, address: str, completed_by: ExpectedRead, recording: Recording
) -> Notification:
    """The summary composed for ``address`` in the teams' language: queued, or failed with
    the reason when its template fails (checked at start-up)."""
    wave = summary.wave
    held = Notification(
        notification_id=summary_notification_id(wave.wave_id, address),
        event_id=completed_by.event_id,
        event_type=EXPECTED,
        rule=WAVE_SUMMARY_RULE.name,
        channel=WAVE_SUMMARY_RULE.channel,
        recipient=team_recipient(wave.reception_centre),
        returnee_id=wave.wave_id,  # about no returnee: the wave (migration 0009)
        template=WAVE_SUMMARY_RULE.template,
        status=Status.HELD,
        context=summary.context(),
    )
    return composed_row(held, WAVE_SUMMARY_RULE, address, recording.team_language, recording)


def _by_id(wave: Wave) -> UUID:
    return wave.wave_id
