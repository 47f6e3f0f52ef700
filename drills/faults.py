"""The drills that need more than a stopped process: a broker killed in a wave, the SMS
gateway and the network degraded through Toxiproxy, the relay leader frozen beside a replica,
a systematic handler failure. Registered after catalogue.py's, in this order."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import signal
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import httpx

from drills.catalogue import registrar
from drills.framework import Drill, Outcome, drill
from drills.load import Registrar
from drills.observe import caught_up
from drills.stack import Stack
from drills.toxiproxy import Toxiproxy

# Proxies listen from here on (moved by RETOUR_PORT_OFFSET like every port of a stack).
PROXY_BASE_PORT = 18400
# The relay leader must be replaced within this (issue 17, item 3).
LEADERSHIP_MOVES_WITHIN_SECONDS = 30.0
SERVICE_START_SECONDS = 60.0
# How long registrations go on after the relay leader's freeze before those acknowledged so far
# are awaited downstream: the measure of how soon events flow again.
FIRST_REGISTRATIONS_SECONDS = 3.0
# The consumers that need nothing of intake but its topic.
RELAYED_TO = ("reintegration", "reporting")
SECOND_INTAKE_PORT = 8011


async def _script(stack: Stack, name: str, *args: str) -> None:
    await asyncio.to_thread(stack.script, name, *args)


# --- A broker killed during a wave ------------------------------------------------------------


@drill("broker-wave", "a 415-person wave; the Kafka broker SIGKILLed in its middle, restarted")
async def broker_wave(ctx: Drill) -> Outcome:
    stack, size = ctx.stack, ctx.settings.wave_size
    async with registrar(stack) as client:

        async def kill_broker() -> float:
            # Once a third of the wave is acknowledged: the relay is publishing it.
            while len(client.acknowledged.returnees) < size // 3:  # noqa: ASYNC110 (a counter)
                await asyncio.sleep(0.05)
            pid = stack.broker_pid()
            if pid is None:
                raise RuntimeError("no running broker under .local/kafka")
            stack.signal(pid, signal.SIGKILL)
            await asyncio.sleep(3.0)
            await _script(stack, "kafka", "start")
            return time.monotonic()

        _, cleared = await asyncio.gather(client.wave(size), kill_broker())
        ctx.sabotage(client.acknowledged.returnees)
        return Outcome(
            f"{size}-person wave, the broker SIGKILLed a third of the way in and restarted",
            client.acknowledged.returnees,
            cleared,
        )


# --- Services started behind Toxiproxy ---------------------------------------------------------


async def _serving(stack: Stack, service: str, overrides: dict[str, str]) -> int:
    """`stack.start_service`, once it answers (see `_healthy`)."""
    pid = stack.start_service(service, overrides)
    await _healthy(stack, service, pid, port=overrides.get("HTTP_PORT"))
    return pid


async def _healthy(
    stack: Stack, service: str, pid: int, *, port: str | None, replica: str = ""
) -> None:
    """Waits for the process's /healthz. One that exits or never answers stops the drill: a
    fault injected into a process that never ran would prove nothing."""
    url = f"http://127.0.0.1:{port or stack.http_port(service)}/healthz"
    deadline = time.monotonic() + SERVICE_START_SECONDS
    async with httpx.AsyncClient(timeout=1.0) as http:
        while stack.running(pid) and time.monotonic() < deadline:
            with contextlib.suppress(httpx.TransportError):
                if (await http.get(url)).status_code == 200:
                    return
            await asyncio.sleep(0.5)
    log = stack.local / "services" / f"{service}{replica}.log"
    # A start-up failure is a configuration message: nothing personal is logged at start.
    last = log.read_text(errors="replace").strip().splitlines()[-1:] if log.exists() else []
    raise RuntimeError(f"{service}{replica} did not start: {' '.join(last) or 'no log'}")


@asynccontextmanager
async def behind_proxy(
    stack: Stack, service: str, proxies: dict[str, tuple[int, str]], overrides: dict[str, str]
) -> AsyncIterator[Toxiproxy]:
    """`service` restarted with its addresses pointing at Toxiproxy, then restarted as
    services.sh starts it, with the proxies removed, whatever happened in between."""
    await _script(stack, "toxiproxy", "start")
    toxiproxy = Toxiproxy(stack)
    try:
        for name, (listen_port, upstream) in proxies.items():
            await toxiproxy.proxy(name, listen_port, upstream)
        await _script(stack, "services", "stop", service)
        await _serving(stack, service, overrides)
        try:
            yield toxiproxy
        finally:
            for name in proxies:
                await toxiproxy.clear(name)
            await _script(stack, "services", "stop", service)
            await _script(stack, "services", "start", service)
            for name in proxies:
                await toxiproxy.remove(name)
    finally:
        await toxiproxy.close()
        # Nothing of a drill outlives it: `make down` does not know about Toxiproxy.
        await _script(stack, "toxiproxy", "stop")


async def _phase(client: Registrar, ctx: Drill) -> None:
    await client.steady(ctx.settings.load_seconds, ctx.settings.per_second)


@drill("sms-gateway", "Kannel slow, timing out, then refusing, under registrations")
async def sms_gateway(ctx: Drill) -> Outcome:
    stack = ctx.stack
    upstream = stack.kannel_sendsms_url.split("//", 1)[1].split("/", 1)[0]
    port = PROXY_BASE_PORT + stack.port_offset
    proxied = stack.kannel_sendsms_url.replace(upstream, f"127.0.0.1:{port}")
    async with (
        behind_proxy(
            stack, "notifications", {"kannel": (port, upstream)}, {"KANNEL_SENDSMS_URL": proxied}
        ) as proxy,
        registrar(stack) as client,
    ):
        await proxy.toxic("kannel", "latency", "downstream", latency=3000)
        await _phase(client, ctx)
        await proxy.clear("kannel")
        # The request reaches Kannel (the SMS goes out), the answer never comes back.
        await proxy.toxic("kannel", "timeout", "downstream", timeout=0)
        await _phase(client, ctx)
        await proxy.clear("kannel")
        await proxy.enable("kannel", enabled=False)
        await _phase(client, ctx)
    cleared = time.monotonic()
    ctx.sabotage(client.acknowledged.returnees)
    return Outcome(
        f"SMS gateway 3 s slow, then answering never, then refusing, "
        f"{ctx.settings.load_seconds:g} s each",
        client.acknowledged.returnees,
        cleared,
    )


@drill("network", "reintegration behind Toxiproxy: Postgres slow, then cut; the broker frozen")
async def network(ctx: Drill) -> Outcome:
    stack = ctx.stack
    port = PROXY_BASE_PORT + 1 + stack.port_offset
    pg = f"127.0.0.1:{stack.pg_port()}"
    proxied_dsn = stack.dsn("reintegration").replace(pg, f"127.0.0.1:{port}")
    async with (
        behind_proxy(
            stack, "reintegration", {"postgres": (port, pg)}, {"DATABASE_URL": proxied_dsn}
        ) as proxy,
        registrar(stack) as client,
    ):
        await proxy.toxic("postgres", "latency", "downstream", latency=200, jitter=100)
        await _phase(client, ctx)
        await proxy.clear("postgres")
        await proxy.enable("postgres", enabled=False)
        await _phase(client, ctx)
        await proxy.enable("postgres", enabled=True)
        # The broker cannot sit behind a proxy (it advertises its own address to clients):
        # frozen, it is a link that drops everything silently, for every service at once.
        broker = stack.broker_pid()
        if broker is None:
            raise RuntimeError("no running broker under .local/kafka")
        stack.signal(broker, signal.SIGSTOP)
        try:
            await _phase(client, ctx)
        finally:
            stack.signal(broker, signal.SIGCONT)
    cleared = time.monotonic()
    ctx.sabotage(client.acknowledged.returnees)
    return Outcome(
        f"Postgres 200 ms slower, then cut, then the broker frozen, "
        f"{ctx.settings.load_seconds:g} s each",
        client.acknowledged.returnees,
        cleared,
    )


# --- The relay leader frozen ------------------------------------------------------------------

LEADER_PORTS = (
    "SELECT a.client_port FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
    "WHERE l.locktype = 'advisory' AND l.granted AND a.usename = 'intake'"
)


def _local_ports_of(pid: int) -> set[int]:
    """The local TCP ports of a process's sockets (/proc/<pid>/fd against /proc/net/tcp)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        target = os.readlink(fd) if fd.is_symlink() else ""
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[9] in inodes:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


async def relay_leader(stack: Stack, candidates: list[int]) -> int | None:
    """Which intake process holds the relay's advisory lock: its Postgres session's client
    port is one of that process's sockets."""
    admin = await asyncpg.connect(stack.admin_dsn)
    try:
        ports = {row[0] for row in await admin.fetch(LEADER_PORTS)}
    finally:
        await admin.close()
    for pid in candidates:
        if ports & _local_ports_of(pid):
            return pid
    return None


@drill("relay-frozen", "intake's relay leader SIGSTOPped while a second replica runs")
async def relay_frozen(ctx: Drill) -> Outcome:
    stack = ctx.stack
    first = stack.service_pid("intake")
    if first is None:
        raise RuntimeError("intake is not running")
    port = str(SECOND_INTAKE_PORT + stack.port_offset)
    replica = stack.start_service("intake", {"HTTP_PORT": port}, replica="-2")
    try:
        await _healthy(stack, "intake", replica, port=port, replica="-2")
        await asyncio.sleep(2.0)  # the replica's relay competing for the leadership
        leader = await relay_leader(stack, [first, replica]) or first
        serving = port if leader == first else str(stack.http_port("intake"))
        stack.signal(leader, signal.SIGSTOP)
        frozen_at = time.monotonic()
        try:
            # Registrations through the other process only: the frozen one answers nothing.
            async with _registrar_at(stack, serving) as client:
                load = asyncio.create_task(_phase(client, ctx))
                # The relay's guarantee: the events of the first registrations after the
                # freeze reach the consumers that need nothing of intake but its topic within
                # 30 s of it, the leader still frozen. Notifications also asks intake
                # (INTAKE_URL, the frozen process here; a Service would route around a pod
                # failing its probes) for data keys, so it catches up after the thaw, checked
                # by the drill's final count like every other drill.
                await asyncio.sleep(FIRST_REGISTRATIONS_SECONDS)
                early = list(client.acknowledged.returnees)
                left = LEADERSHIP_MOVES_WITHIN_SECONDS - (time.monotonic() - frozen_at)
                moved = await caught_up(stack, early, within=max(left, 1), services=RELAYED_TO)
                moved_at = time.monotonic()
                await load
                ctx.sabotage(client.acknowledged.returnees)
                # And the rest of the load, still while the leader is frozen.
                rest = await caught_up(
                    stack,
                    client.acknowledged.returnees,
                    within=ctx.settings.recovery_timeout_seconds,
                    services=RELAYED_TO,
                )
        finally:
            stack.signal(leader, signal.SIGCONT)
    finally:
        stack.signal(replica, signal.SIGTERM)
        (stack.local / "services" / "intake-2.pid").unlink(missing_ok=True)
    broken = []
    if not early:
        broken.append(
            f"nothing acknowledged in the {FIRST_REGISTRATIONS_SECONDS:g} s after the freeze"
        )
    if moved is None:
        broken.append("events did not flow within 30 s of the freeze")
    if rest is None:
        broken.append("the registrations made while the leader was frozen did not all arrive")
    return Outcome(
        "intake's relay leader frozen, registrations through the other replica",
        client.acknowledged.returnees,
        time.monotonic(),
        recover_seconds=math.nan if moved is None else moved_at - frozen_at,
        broken=broken,
    )


@asynccontextmanager
async def _registrar_at(stack: Stack, port: str) -> AsyncIterator[Registrar]:
    client = Registrar(stack, base_url=f"http://127.0.0.1:{port}")
    try:
        yield client
    finally:
        await client.close()


# --- A systematic handler failure -------------------------------------------------------------


@drill("systematic-failure", "reporting loses its INSERT privilege on registrations, then back")
async def systematic_failure(ctx: Drill) -> Outcome:
    stack = ctx.stack
    admin = await asyncpg.connect(stack.admin_dsn)
    try:
        # As a rolling migration or a lost grant would: every registration fails alike.
        await admin.execute("REVOKE INSERT ON reporting.registrations FROM reporting")
        try:
            async with registrar(stack) as client:
                await _phase(client, ctx)
        finally:
            await admin.execute("GRANT INSERT ON reporting.registrations TO reporting")
    finally:
        await admin.close()
    cleared = time.monotonic()
    ctx.sabotage(client.acknowledged.returnees)
    return Outcome(
        "reporting's INSERT on registrations revoked under registrations, then granted back",
        client.acknowledged.returnees,
        cleared,
    )
