"""More members for a rebuild: the same consumer group in other processes.

One Python process applies about as many events per second as one core allows, whatever the
machine. Kafka spreads a group's partitions over its members, so each extra member process
(``python -m retour_reporting rebuild-member``) takes its share of the replay on another
core. Every member writes through the same inbox, so a partition that moves between members
in a rebalance is neither lost nor applied twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Sequence

import structlog

from retour_reporting.usecases.rebuilding import Consumer

log = structlog.stdlib.get_logger(__name__)

MEMBER_COMMAND = (sys.executable, "-m", "retour_reporting", "rebuild-member")
STOP_GRACE_SECONDS = 30.0


class WithMemberProcesses:
    """Runs `local` in this process and `extra` member processes beside it, until stopped.

    The members start with `run`, after the rebuild emptied the projections, and are asked
    to stop (SIGTERM: they finish and commit the batch in progress) when `local` stops.
    A member that dies is not fatal: the group gives its partitions to the others.
    """

    def __init__(
        self, local: Consumer, *, extra: int, command: Sequence[str] = MEMBER_COMMAND
    ) -> None:
        self._local = local
        self._extra = extra
        self._command = command

    async def run(self) -> None:
        members: list[asyncio.subprocess.Process] = []
        try:
            command = [*self._command, "--parent", str(os.getpid())]
            for _ in range(self._extra):
                members.append(await asyncio.create_subprocess_exec(*command))
            log.info("rebuild members started", members=len(members) + 1)
            await self._local.run()
        finally:
            await asyncio.shield(_stop(members))

    def stop(self) -> None:
        self._local.stop()


async def _stop(members: list[asyncio.subprocess.Process]) -> None:
    for member in members:
        if member.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                member.terminate()
    for member in members:
        try:
            async with asyncio.timeout(STOP_GRACE_SECONDS):
                await member.wait()
        except TimeoutError:
            member.kill()
            await member.wait()
        if member.returncode not in (0, -signal.SIGTERM):
            log.warning("rebuild member exited badly", pid=member.pid, code=member.returncode)
