"""The kit's one backoff, one interruptible pause and one cursor codec."""

import asyncio
import base64
import json
import time
from datetime import UTC, date, datetime
from uuid import UUID, uuid4

import pytest

from retour_kit.pagination import InvalidCursor, decode_cursor, encode_cursor
from retour_kit.waiting import exponential_backoff, pause_unless_stopped


def test_the_backoff_doubles_from_its_first_delay_up_to_its_cap() -> None:
    delays = [exponential_backoff(attempt, first=0.5, cap=3) for attempt in range(1, 6)]

    assert delays == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert exponential_backoff(0, first=0.5) == 0.5  # no attempt yet counts as the first


async def test_a_pause_ends_as_soon_as_a_stop_is_asked() -> None:
    stopping = asyncio.Event()
    asyncio.get_running_loop().call_later(0.05, stopping.set)
    started = time.monotonic()

    stopped = await pause_unless_stopped(stopping, 30)

    assert stopped
    assert time.monotonic() - started < 5


async def test_a_pause_nobody_interrupts_lasts_its_time() -> None:
    assert not await pause_unless_stopped(asyncio.Event(), 0.01)


def test_a_cursor_gives_back_the_sort_key_it_was_made_of() -> None:
    moment, day, returnee_id = datetime(2024, 3, 2, 9, 30, tzinfo=UTC), date(2024, 3, 2), uuid4()

    cursor = encode_cursor(moment, returnee_id)

    assert decode_cursor(cursor, datetime.fromisoformat, UUID) == (moment, returnee_id)
    assert decode_cursor(encode_cursor(day, returnee_id), date.fromisoformat, UUID) == (
        day,
        returnee_id,
    )
    assert "=" not in cursor  # fits a query string as it is


@pytest.mark.parametrize(
    "text",
    ["", "not base64!", encode_cursor("2024-03-02"), encode_cursor("yesterday", "not-a-uuid")],
)
def test_a_cursor_this_api_did_not_make_is_refused(text: str) -> None:
    with pytest.raises(InvalidCursor):
        decode_cursor(text, date.fromisoformat, UUID)


def test_the_backoff_of_a_day_long_outage_stays_at_its_cap() -> None:
    assert exponential_backoff(10_000, first=0.2, cap=30) == 30
    assert exponential_backoff(10_000, first=0.2) > 1e18  # no cap: large, never an error


@pytest.mark.parametrize(
    "text",
    [
        encode_cursor("2024-03-02", "x")[:-2] + "NQ",  # another second part, not a string
        "WzVd",  # [5]
        "W1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1td",  # lists in lists
        "A" * 500,
    ],
)
def test_a_crafted_cursor_is_refused_not_a_crash(text: str) -> None:
    with pytest.raises(InvalidCursor):
        decode_cursor(text, date.fromisoformat, UUID)


def test_a_cursor_of_numbers_is_refused() -> None:
    numbers = base64.urlsafe_b64encode(json.dumps(["2024-03-02", 5]).encode()).decode()

    with pytest.raises(InvalidCursor):
        decode_cursor(numbers, date.fromisoformat, UUID)
