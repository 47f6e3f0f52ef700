"""A second intake process over one of the benchmark's registries (bench/registry.py).

Started as services.sh starts intake (the same environment, its own Kafka principal, the
stack's tracing setting), on a port of its own and with `DATABASE_SCHEMA` on the registry:
the registration growth curve measures real registrations among a million people without
filling the stack's own registry.

Its Kafka is an address where no broker listens, as during a broker outage (intake keeps
registering into its outbox then, and stays ready): what it registers stays in the registry's
outbox and goes with the registry. Published, those registrations would reach the stack's
consumers with data keys that only the registry holds, and stop them (notifications pauses
on a key the stack's intake refuses to release).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from bench.registry import Registry
from drills.stack import Stack as LocalStack

READY_WITHIN_SECONDS = 60.0
STOP_WITHIN_SECONDS = 30.0


@asynccontextmanager
async def intake_over(registry: Registry) -> AsyncIterator[int]:
    """Yields the port of an intake serving `registry`; stops it on exit."""
    local = LocalStack.load()
    port, no_broker = _free_port(), _free_port()
    pid = local.start_service(
        "intake",
        {
            "DATABASE_SCHEMA": registry.schema,
            "HTTP_PORT": str(port),
            "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{no_broker}",
        },
        replica="-bench",
    )
    try:
        await _ready(port, pid, local)
        yield port
    finally:
        await asyncio.to_thread(_stop, pid)


async def _ready(port: int, pid: int, local: LocalStack) -> None:
    deadline = time.monotonic() + READY_WITHIN_SECONDS
    while time.monotonic() < deadline:
        if not local.running(pid):
            raise RuntimeError(
                "the benchmark's intake exited at start (.local/services/intake-bench.log)"
            )
        with suppress(OSError):  # refused while it starts; 503 (an HTTPError) until ready
            answer = await asyncio.to_thread(
                urllib.request.urlopen, f"http://127.0.0.1:{port}/readyz", timeout=2
            )
            answer.close()
            return
        await asyncio.sleep(0.3)
    raise RuntimeError(f"the benchmark's intake was not ready within {READY_WITHIN_SECONDS:.0f} s")


def _stop(pid: int) -> None:
    """SIGTERM, SIGKILL as a last resort; the process is this one's child, reaped here."""
    with suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_WITHIN_SECONDS
    while time.monotonic() < deadline:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            return
        time.sleep(0.2)
    with suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
