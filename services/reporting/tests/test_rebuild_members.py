"""Member processes of a rebuild never outlive it, even when it is killed outright."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import textwrap

from retour_test_infra import eventually

# The member: the real watch over a stand-in consumer that prints when it is told to stop.
MEMBER = textwrap.dedent(
    """
    import asyncio, os, sys
    from retour_reporting.main import stop_when_orphaned

    class Consumer:
        def __init__(self):
            self.stopped = asyncio.Event()
        async def run(self):
            await self.stopped.wait()
        def stop(self):
            print("member stopped", flush=True)
            self.stopped.set()

    async def main():
        consumer = Consumer()
        parent = int(sys.argv[1])
        watch = asyncio.create_task(stop_when_orphaned(consumer, parent, every_seconds=0.1))
        print("member running", flush=True)
        await consumer.run()
        watch.cancel()

    asyncio.run(main())
    """
)

# The rebuild stand-in: starts the member, tells its pid, then waits to be killed.
PARENT = textwrap.dedent(
    """
    import os, subprocess, sys, time
    member = subprocess.Popen(
        [sys.executable, "-c", sys.argv[1], str(os.getpid())], stdout=subprocess.DEVNULL
    )
    print(member.pid, flush=True)
    time.sleep(600)
    """
)


async def test_a_member_stops_once_the_rebuild_that_started_it_is_killed() -> None:
    parent = await asyncio.create_subprocess_exec(
        sys.executable, "-c", PARENT, MEMBER, stdout=asyncio.subprocess.PIPE
    )
    assert parent.stdout is not None
    async with asyncio.timeout(30):
        member_pid = int(await parent.stdout.readline())
    assert _alive(member_pid)

    parent.send_signal(signal.SIGKILL)
    await parent.wait()

    await eventually(
        lambda: not _alive(member_pid),
        within=10,
        what="the member to stop after its rebuild was killed",
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # An exited child not yet reaped by its new parent is a zombie: gone for our purpose.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False  # reaped between the two looks
