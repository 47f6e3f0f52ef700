"""Rebuild the projections from the first event of every topic.

Order matters, and makes the rebuild safe while the service keeps consuming:
1. rewind the rebuild group to the start of the topics (fails if a rebuild is running);
2. empty the projections and the inbox rows of the consumer, in one transaction;
3. only then read where the topics end: every event up to there is replayed, and an event
   the running service applied before step 2 (its effect just erased) lies before that end;
4. consume under the rebuild group until it has committed every partition up to that end.
Events arriving meanwhile are applied once, by whichever consumer gets them first (both
record them in the same inbox). Reports read during a rebuild are partial.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

import structlog

from retour_reporting.usecases.ports import Offsets, TopicPositions

log = structlog.stdlib.get_logger(__name__)

PROGRESS_LOG_SECONDS = 5.0


class Consumer(Protocol):
    async def run(self) -> None: ...
    def stop(self) -> None: ...


class RewindablePositions(TopicPositions, Protocol):
    async def rewind(self, group: str) -> None: ...


class RebuildError(Exception):
    """The rebuild did not complete; running it again starts over safely."""


class RebuildAlreadyRunningError(RebuildError):
    pass


class RebuildTimeoutError(RebuildError):
    pass


class ConsumerDiedError(RebuildError):
    pass


@dataclass(frozen=True)
class RebuildOutcome:
    records: int
    seconds: float

    @property
    def records_per_second(self) -> float:
        return self.records / self.seconds if self.seconds else 0.0


@dataclass(frozen=True)
class ReplayRange:
    starts: Offsets
    ends: Offsets

    def left_after(self, committed: Offsets) -> int:
        """Records between the committed offsets (the start where none) and the ends."""
        return sum(
            max(0, end - committed.get(key, self.starts.get(key, 0)))
            for key, end in self.ends.items()
        )


async def rebuild(
    *,
    positions: RewindablePositions,
    forget: Callable[[], Awaitable[None]],
    consumer: Consumer,
    group: str,
    timeout_seconds: float | None = None,
    poll_seconds: float = 0.2,
) -> RebuildOutcome:
    started = time.monotonic()
    await positions.rewind(group)
    await forget()
    replay = ReplayRange(await positions.start_offsets(), await positions.end_offsets())
    records = replay.left_after({})
    log.info("rebuild started", group=group, records=records)
    task = asyncio.create_task(consumer.run(), name="rebuild-consumer")
    deadline = None if timeout_seconds is None else started + timeout_seconds
    try:
        await _until_replayed(positions, group, replay, task, deadline, poll_seconds)
    finally:
        consumer.stop()
        await task
    outcome = RebuildOutcome(records=records, seconds=time.monotonic() - started)
    log.info(
        "rebuild finished",
        records=records,
        seconds=round(outcome.seconds, 2),
        records_per_second=round(outcome.records_per_second),
    )
    return outcome


async def _until_replayed(
    positions: TopicPositions,
    group: str,
    replay: ReplayRange,
    task: asyncio.Task[None],
    deadline: float | None,
    poll_seconds: float,
) -> None:
    next_report = time.monotonic() + PROGRESS_LOG_SECONDS
    while (left := replay.left_after(await positions.committed(group))) > 0:
        if task.done():
            raise ConsumerDiedError("the rebuild consumer stopped before catching up")
        now = time.monotonic()
        if deadline is not None and now > deadline:
            raise RebuildTimeoutError(f"{left} records were still to apply at the deadline")
        if now > next_report:
            log.info("rebuild in progress", records_left=left)
            next_report = now + PROGRESS_LOG_SECONDS
        await asyncio.sleep(poll_seconds)
