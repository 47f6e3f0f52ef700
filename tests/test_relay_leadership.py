"""The outbox relay's leadership against the real Kafka and PostgreSQL, with each relay in a
process of its own, as replicas run: a leader that freezes, or cannot reach Kafka, is replaced
within 30 seconds, nothing is lost, each returnee's events keep their order, and a leader that
wakes up after another took over publishes nothing (fenced).

Leases are short here (3 s, giving up on Kafka after 2 s) so that each drill takes seconds; the
30 s bound is the one the defaults (10 s) promise."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from retour_relay_drill import (
    CommittedReader,
    KeyedEvents,
    RelayReplica,
    Scratch,
    first_occurrences,
    freeze_flag,
    leaders,
    scratch_outbox,
)

from retour_test_infra import Infra, eventually

pytestmark = pytest.mark.integration

TAKEOVER_LIMIT_SECONDS = 30.0
# What is not measured may take its time on a loaded machine: starting Python, a first batch.
PATIENCE_SECONDS = 120.0
# Nothing here refuses connections: a leader given it as its broker cannot reach Kafka.
UNREACHABLE_KAFKA = "127.0.0.1:1"


# Each session that holds or asks for an advisory lock (the relays' leader locks, the stack's
# too), as Postgres sees it when a takeover failed: a frozen leader whose session was not
# ended says here in what state and since when.
_LOCK_SESSIONS = """
SELECT a.pid, a.client_port, a.state, a.wait_event_type, a.wait_event,
       a.backend_xid IS NOT NULL AS writing, date_trunc('second', now() - a.state_change) AS for,
       left(a.query, 60) AS query,
       EXISTS (SELECT 1 FROM pg_locks l
               WHERE l.pid = a.pid AND l.locktype = 'advisory' AND l.granted) AS holds_lock
FROM pg_stat_activity a
WHERE a.backend_type = 'client backend' AND a.pid <> pg_backend_pid()
  AND (a.query ILIKE '%advisory%'
       OR EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = a.pid AND l.locktype = 'advisory'))
ORDER BY a.pid
"""


async def leader_lock_sessions(admin_dsn: str) -> str:
    """For a failure's message: never raises (the failure is the news, not this)."""
    try:
        conn = await asyncpg.connect(admin_dsn, timeout=5)
        try:
            rows = await conn.fetch(_LOCK_SESSIONS, timeout=5)
        finally:
            await conn.close()
    except (OSError, TimeoutError, asyncpg.PostgresError) as error:
        return f"sessions: not read ({type(error).__name__})"
    return "sessions:\n" + "\n".join(str(dict(row)) for row in rows)


@dataclass
class Drill:
    infra: Infra
    scratch: Scratch
    work_dir: Path
    events: KeyedEvents
    reader: CommittedReader
    replicas: list[RelayReplica]

    async def start_relays(self, *names: str, bootstrap: str | None = None) -> list[RelayReplica]:
        """Relays started, and running (past their imports), so that a standby is competing
        when a test acts on the leader."""
        started = [
            RelayReplica.start(name, self.infra, self.scratch, self.work_dir, bootstrap=bootstrap)
            for name in names
        ]
        self.replicas.extend(started)
        await eventually(
            lambda: all(replica.said("started") for replica in started),
            within=PATIENCE_SECONDS,
            what=f"relays {names} started",
        )
        return started

    async def leader(self, among: list[RelayReplica] | None = None) -> RelayReplica:
        [leader] = await eventually(
            lambda: leaders(among if among is not None else self.replicas),
            until=lambda found: len(found) == 1,
            within=PATIENCE_SECONDS,
            what=f"one relay leading ({self.describe()})",
        )
        return leader

    async def taken_over(self, probe: Callable[[], object], *, what: str) -> Any:
        """``eventually`` within the takeover limit; a failure also tells what each relay said
        and the end of its log."""
        try:
            return await eventually(probe, within=TAKEOVER_LIMIT_SECONDS, what=what)
        except AssertionError as failure:
            logs = "\n".join(
                f"{log.stem}'s log ends: {log.read_text()[-2000:]!r}"
                for log in sorted(self.work_dir.glob("*.log"))
            )
            sessions = await leader_lock_sessions(self.infra.admin_dsn)
            raise AssertionError(f"{failure}\n{self.describe()}\n{logs}\n{sessions}") from None

    async def publishing_then_woken(
        self, new: RelayReplica, old: RelayReplica, *, since: float
    ) -> None:
        """The new leader publishes; then the frozen one, woken up, stands by."""
        await eventually(
            lambda: new.said("committed", since=since),
            within=PATIENCE_SECONDS,
            what="the new leader publishing",
        )
        old.wake()
        await eventually(
            lambda: old.said("standby"),
            within=PATIENCE_SECONDS,
            what="the woken leader standing by",
        )

    def describe(self) -> str:
        return "; ".join(
            f"{replica.name}: {[line['event'] for _, line in replica.lines][-6:]}"
            for replica in self.replicas
        )

    async def all_delivered(self) -> dict[str, list[str]]:
        """Every event enqueued, read from Kafka (read_committed); returns them per returnee."""
        return await eventually(
            self.reader.read_more,
            until=lambda seen: all(
                set(events) <= set(seen.get(key, ()))
                for key, events in self.events.enqueued.items()
            ),
            within=PATIENCE_SECONDS,
            every=0,
            what=f"the {self.events.count} events enqueued, on Kafka",
        )


@pytest.fixture
async def drill(infra: Infra, tmp_path: Path) -> AsyncIterator[Drill]:
    async with (
        scratch_outbox(infra) as scratch,
        CommittedReader(infra.kafka_bootstrap, scratch.topic) as reader,
    ):
        drill = Drill(infra, scratch, tmp_path, KeyedEvents(infra, scratch), reader, [])
        try:
            yield drill
        finally:
            for replica in drill.replicas:
                replica.stop()


@pytest.fixture
async def enqueuing(drill: Drill) -> AsyncIterator[asyncio.Event]:
    """Keyed events are enqueued while the test runs; set the event to stop (then awaited)."""
    stop = asyncio.Event()
    task = asyncio.create_task(drill.events.enqueue_until(stop))
    try:
        yield stop
    finally:
        stop.set()
        await task


async def stop_enqueuing(stop: asyncio.Event) -> None:
    stop.set()
    await asyncio.sleep(0)


def assert_order_kept(drill: Drill, seen: dict[str, list[str]]) -> None:
    for key, enqueued in drill.events.enqueued.items():
        # At-least-once: an event may come again later, never before one enqueued earlier.
        assert first_occurrences(seen[key]) == enqueued, f"order broken for returnee {key}"


async def test_a_leader_frozen_mid_batch_is_replaced_and_fenced_when_it_wakes(
    drill: Drill, enqueuing: asyncio.Event
) -> None:
    await drill.start_relays("relay-0", "relay-1", "relay-2")
    old = await drill.leader()
    await eventually(
        lambda: old.said("committed"), within=PATIENCE_SECONDS, what="the leader publishing"
    )

    # The leader stops itself once its next batch is on the broker, uncommitted.
    freeze_flag(drill.work_dir).touch()
    [frozen] = await eventually(
        lambda: old.said("frozen"), within=PATIENCE_SECONDS, what="the leader frozen mid-batch"
    )
    frozen_at = time.monotonic()
    [new] = await drill.taken_over(
        lambda: leaders([r for r in drill.replicas if r is not old]), what="another relay leading"
    )
    took_over_in = time.monotonic() - frozen_at
    await drill.publishing_then_woken(new, old, since=frozen_at)
    woke_at = time.monotonic()
    await eventually(
        lambda: new.said("committed", since=woke_at),
        within=PATIENCE_SECONDS,
        what="publishing after the wake",
    )
    await stop_enqueuing(enqueuing)
    seen = await drill.all_delivered()

    assert took_over_in < TAKEOVER_LIMIT_SECONDS
    # Its batch was sent before it froze: the new leader's producer aborted it and fenced it, so
    # the woken leader could not commit it (nor anything after it).
    assert old.said("committed", since=frozen_at) == []
    assert leaders(drill.replicas) == [new]
    assert set(frozen["ids"])  # it froze holding records
    assert_order_kept(drill, seen)


async def test_a_leader_stopped_from_outside_is_replaced_and_rejoins_as_a_standby(
    drill: Drill, enqueuing: asyncio.Event
) -> None:
    await drill.start_relays("relay-0", "relay-1")
    old = await drill.leader()
    await eventually(
        lambda: old.said("committed"), within=PATIENCE_SECONDS, what="the leader publishing"
    )

    old.freeze()  # SIGSTOP wherever it is: its kernel still answers TCP keepalives
    frozen_at = time.monotonic()
    [new] = [r for r in drill.replicas if r is not old]
    await drill.taken_over(lambda: new.leading, what="the standby leading")
    took_over_in = time.monotonic() - frozen_at
    await drill.publishing_then_woken(new, old, since=frozen_at)
    await stop_enqueuing(enqueuing)
    seen = await drill.all_delivered()

    assert took_over_in < TAKEOVER_LIMIT_SECONDS
    assert leaders(drill.replicas) == [new]
    assert_order_kept(drill, seen)


async def test_a_leader_that_cannot_reach_kafka_steps_down_for_one_that_can(
    drill: Drill, enqueuing: asyncio.Event
) -> None:
    [cut_off] = await drill.start_relays("cut-off", bootstrap=UNREACHABLE_KAFKA)
    await eventually(lambda: cut_off.leading, within=PATIENCE_SECONDS, what="cut-off leading")
    await eventually(lambda: cut_off.said("failed"), what="the cut-off leader failing to publish")

    [healthy] = await drill.start_relays("healthy")
    started_at = time.monotonic()
    await drill.taken_over(lambda: healthy.leading, what="healthy leading")
    took_over_in = time.monotonic() - started_at
    await stop_enqueuing(enqueuing)
    seen = await drill.all_delivered()

    assert took_over_in < TAKEOVER_LIMIT_SECONDS
    assert cut_off.said("standby")  # it gave the leadership up
    assert cut_off.said("committed") == []
    assert leaders(drill.replicas) == [healthy]
    assert_order_kept(drill, seen)
