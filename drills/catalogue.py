"""The drills (docs/drills.md). Each drives real load through intake, injects its fault,
clears it and says when; the framework checks what the consumers did (framework.run_one).
Importing this module registers them, in the order `make drills` runs them."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import httpx
from aiokafka import TopicPartition

from drills.backlog import TOPIC as BACKLOG_TOPIC
from drills.backlog import write_backlog
from drills.framework import Drill, Outcome, drill
from drills.load import Registrar
from drills.observe import caught_up
from drills.stack import Stack
from drills.topics import out_of_order, versions_by_key
from retour_contracts import RETURNEE_UPDATED_V1
from retour_kit.topic_reading import committed_ends

SAMPLE_SECONDS = 0.5


@asynccontextmanager
async def registrar(stack: Stack) -> AsyncIterator[Registrar]:
    client = Registrar(stack)
    try:
        yield client
    finally:
        await client.close()


async def _after(seconds: float) -> None:
    await asyncio.sleep(seconds)


# --- No fault ------------------------------------------------------------------------------


@drill("steady", "no fault: a wave of registrations, every guarantee checked", quick=True)
async def steady(ctx: Drill) -> Outcome:
    """The baseline every other drill is read against, and the quickest way to show that the
    checks fail when a guarantee is broken on purpose (DRILL_SABOTAGE)."""
    async with registrar(ctx.stack) as client:
        await client.wave(ctx.settings.wave_size // 4 or 1)
        ctx.sabotage(client.acknowledged.returnees)
        return Outcome(
            f"{len(client.acknowledged.returnees)} registrations, no fault",
            client.acknowledged.returnees,
            time.monotonic(),
        )


# --- Postgres killed -------------------------------------------------------------------------


@drill(
    "postgres-kill",
    "Postgres SIGKILLed and restarted under HTTP and consumer load",
    quick=True,
)
async def postgres_kill(ctx: Drill) -> Outcome:
    settings = ctx.settings
    async with registrar(ctx.stack) as client:
        warm = await client.wave(5)  # consumers busy with these when the database dies

        async def kill_and_restart() -> float:
            await _after(settings.load_seconds / 3)
            pid = ctx.stack.postmaster_pid()
            if pid is None:
                raise RuntimeError("no postmaster.pid: is the stack's PostgreSQL running?")
            ctx.stack.signal(pid, signal.SIGKILL)
            await _after(2.0)
            await asyncio.to_thread(ctx.stack.script, "postgres", "start")
            return time.monotonic()

        load = client.steady(settings.load_seconds, settings.per_second)
        cleared = (await asyncio.gather(load, kill_and_restart()))[1]
        ctx.sabotage(client.acknowledged.returnees)
        return Outcome(
            f"postmaster SIGKILLed under {settings.per_second:g} registrations/s, restarted",
            client.acknowledged.returnees,
            cleared,
            notes={"warm": len(warm), "refused": client.acknowledged.refused},
        )


# --- Kafka down ------------------------------------------------------------------------------


@drill(
    "kafka-down",
    "Kafka stopped under steady registrations and corrections, then the drain",
    quick=True,
)
async def kafka_down(ctx: Drill) -> Outcome:
    settings, stack = ctx.settings, ctx.stack
    since = await committed_ends(stack.kafka, RETURNEE_UPDATED_V1.topic)
    async with registrar(stack) as client:
        await asyncio.to_thread(stack.script, "kafka", "stop")
        try:
            await client.steady(settings.kafka_down_seconds, settings.per_second)
            # Several changes per person while the broker is away: the drain must keep them
            # in the order intake made them.
            corrected = client.acknowledged.returnees[:20]
            for _ in range(3):
                await asyncio.gather(*(client.correct(r) for r in corrected))
        finally:
            await asyncio.to_thread(stack.script, "kafka", "start")
        cleared = time.monotonic()
        ctx.sabotage(client.acknowledged.returnees)
        returnees = client.acknowledged.returnees
        await caught_up(stack, returnees, within=settings.recovery_timeout_seconds)
        expected = {r: client.acknowledged.versions[r] for r in corrected}
        found = await _published_versions(ctx, since, expected)
        missing = sum(1 for r, last in expected.items() if max(found.get(r, [0])) < last)
        disordered = out_of_order(found)
        return Outcome(
            f"Kafka down {settings.kafka_down_seconds:g} s under {settings.per_second:g} "
            f"registrations/s, {len(corrected)} people corrected 3 times",
            returnees,
            cleared,
            extra_lost=missing,
            broken=[f"{disordered} people's corrections out of order"] if disordered else [],
        )


async def _published_versions(
    ctx: Drill, since: dict[TopicPartition, int], expected: dict[str, int]
) -> dict[str, list[int]]:
    """The corrections on the topic, read again until every acknowledged one is there (the
    relay drains the outbox at its own pace) or the recovery time is spent."""
    deadline = time.monotonic() + ctx.settings.recovery_timeout_seconds
    while True:
        found = await versions_by_key(ctx.stack.kafka, since, set(expected))
        complete = all(max(found.get(r, [0])) >= last for r, last in expected.items())
        if complete or time.monotonic() > deadline:
            return found
        await asyncio.sleep(SAMPLE_SECONDS)


# --- A consumer far behind --------------------------------------------------------------------


def _lag(metrics: str, topic: str) -> float:
    total = 0.0
    for line in metrics.splitlines():
        if line.startswith("consumer_lag{") and f'topic="{topic}"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


async def _drained(stack: Stack, ids: list[str]) -> int:
    connection = await asyncpg.connect(stack.dsn("reporting"))
    try:
        count = await connection.fetchval(
            "SELECT count(*) FROM expectation_closures WHERE expected_id = ANY($1::uuid[])", ids
        )
    finally:
        await connection.close()
    return int(count)


@drill(
    "consumer-behind",
    "reporting stopped, a backlog written, restarted: memory bounded, lag visible",
    quick=True,
)
async def consumer_behind(ctx: Drill) -> Outcome:
    settings, stack = ctx.settings, ctx.stack
    limit_kib = int(float(os.environ.get("DRILL_RSS_LIMIT_MIB", "768")) * 1024)
    await asyncio.to_thread(stack.script, "services", "stop", "reporting")
    try:
        async with registrar(stack) as client:
            await client.wave(10)
            ids = await write_backlog(stack.kafka, settings.backlog_events)
            ctx.sabotage(client.acknowledged.returnees)
    finally:
        await asyncio.to_thread(stack.script, "services", "start", "reporting")
    cleared = time.monotonic()
    pid = stack.service_pid("reporting")
    peak_kib, peak_lag, drained = 0, 0.0, 0
    deadline = cleared + settings.recovery_timeout_seconds
    async with httpx.AsyncClient(base_url=stack.url("reporting"), timeout=5.0) as http:
        while time.monotonic() < deadline:
            if pid is not None:
                peak_kib = max(peak_kib, stack.rss_kib(pid))
            peak_lag = max(peak_lag, _lag((await http.get("/metrics")).text, BACKLOG_TOPIC))
            drained = await _drained(stack, ids)
            if drained == len(ids):
                break
            await asyncio.sleep(SAMPLE_SECONDS)
    broken = []
    if peak_kib > limit_kib:
        broken.append(f"RSS peaked at {peak_kib // 1024} MiB (limit {limit_kib // 1024})")
    if peak_lag <= 0:
        broken.append("the backlog never showed as consumer_lag in /metrics")
    return Outcome(
        f"reporting {len(ids)} events behind, restarted; peak RSS {peak_kib // 1024} MiB, "
        f"peak lag {peak_lag:.0f}",
        client.acknowledged.returnees,
        cleared,
        extra_lost=len(ids) - drained,
        broken=broken,
        notes={"peak_rss_mib": peak_kib // 1024, "peak_lag": peak_lag},
    )
