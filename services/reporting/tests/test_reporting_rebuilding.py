"""The rebuild use case against fakes: the order of its steps makes it safe online."""

from __future__ import annotations

import asyncio

import pytest

from retour_reporting.usecases.ports import Offsets
from retour_reporting.usecases.rebuilding import (
    ConsumerDiedError,
    RebuildTimeoutError,
    ReplayRange,
    rebuild,
)

STARTS: Offsets = {("a", 0): 0, ("a", 1): 0, ("b", 0): 10}
ENDS: Offsets = {("a", 0): 5, ("a", 1): 0, ("b", 0): 12}


class FakePositions:
    def __init__(self, steps: list[str]) -> None:
        self.steps = steps
        self.committed_offsets: Offsets = {}

    async def rewind(self, group: str) -> None:
        self.steps.append(f"rewind {group}")

    async def start_offsets(self) -> Offsets:
        return dict(STARTS)

    async def end_offsets(self) -> Offsets:
        self.steps.append("read ends")
        return dict(ENDS)

    async def committed(self, group: str) -> Offsets:
        return dict(self.committed_offsets)


class FakeConsumer:
    """Commits everything up to the ends once running, unless told to stall or die."""

    def __init__(self, positions: FakePositions, *, stall: bool = False, die: bool = False):
        self._positions = positions
        self._stall = stall
        self._die = die
        self._stopped = asyncio.Event()
        self.stopped = False

    async def run(self) -> None:
        if self._die:
            return
        if not self._stall:
            self._positions.committed_offsets = dict(ENDS)
        await self._stopped.wait()

    def stop(self) -> None:
        self.stopped = True
        self._stopped.set()


async def test_it_forgets_the_projections_before_reading_where_the_topics_end() -> None:
    steps: list[str] = []
    positions = FakePositions(steps)

    async def forget() -> None:
        steps.append("forget")

    outcome = await rebuild(
        positions=positions,
        forget=forget,
        consumer=FakeConsumer(positions),
        group="reporting-rebuild",
        poll_seconds=0.01,
    )

    assert steps == ["rewind reporting-rebuild", "forget", "read ends"]
    assert outcome.records == 7


async def _noop() -> None:
    return None


async def test_it_gives_up_at_the_deadline_and_stops_its_consumer() -> None:
    positions = FakePositions([])
    consumer = FakeConsumer(positions, stall=True)

    with pytest.raises(RebuildTimeoutError):
        await rebuild(
            positions=positions,
            forget=_noop,
            consumer=consumer,
            group="g",
            timeout_seconds=0.05,
            poll_seconds=0.01,
        )
    assert consumer.stopped


async def test_a_consumer_that_stops_early_fails_the_rebuild() -> None:
    positions = FakePositions([])

    with pytest.raises(ConsumerDiedError):
        await rebuild(
            positions=positions,
            forget=_noop,
            consumer=FakeConsumer(positions, die=True),
            group="g",
            poll_seconds=0.01,
        )


def test_records_left_count_from_the_start_where_nothing_is_committed() -> None:
    replay = ReplayRange(STARTS, ENDS)

    assert replay.left_after({}) == 7
    assert replay.left_after({("a", 0): 5}) == 2
    assert replay.left_after({("a", 0): 5, ("b", 0): 12}) == 0
