"""The one way tests wait for eventually consistent state (retour_test_infra.eventually)."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest

from retour_test_infra import eventually


async def test_returns_the_first_value_that_satisfies_the_condition() -> None:
    counter = itertools.count()

    async def rows() -> int:
        return next(counter)

    assert await eventually(rows, until=lambda n: n >= 3, every=0) == 3


async def test_a_plain_function_is_polled_until_its_value_is_truthy() -> None:
    arrived: list[str] = []
    asyncio.get_running_loop().call_later(0.05, arrived.append, "sms")

    assert await eventually(lambda: list(arrived), every=0.01) == ["sms"]


async def test_the_timeout_names_what_was_awaited_and_what_was_seen_last() -> None:
    with pytest.raises(AssertionError) as failure:
        await eventually(
            lambda: {"lag": 7},
            until=lambda lags: not any(lags.values()),
            within=0.2,
            every=0.05,
            what="a lag of 0",
        )

    assert str(failure.value) == "waited 0.2 s for a lag of 0; last observed: {'lag': 7}"


async def test_a_probe_still_running_at_the_deadline_is_cut_off() -> None:
    started = time.monotonic()

    with pytest.raises(AssertionError, match=r"for hanging; nothing observed"):
        await eventually(lambda: asyncio.sleep(60), within=0.2, what="hanging")

    assert time.monotonic() - started < 2


async def test_an_error_of_the_probe_fails_at_once() -> None:
    async def broken() -> None:
        raise TimeoutError("the probe's own")

    with pytest.raises(TimeoutError, match="the probe's own"):
        await eventually(broken, within=30)
