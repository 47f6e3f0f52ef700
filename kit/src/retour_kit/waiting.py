"""How every retour loop waits: one backoff formula, one interruptible pause.

Retries back off exponentially from a first delay up to a cap (a broker or a database coming
back is not hurried by a storm of retries). A loop that pauses between rounds wakes up at once
when asked to stop, so a service's shutdown never waits out a backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import math

# 2**64 times any first delay is far beyond every cap; a larger exponent would only overflow
# a float after a day-long outage (attempt 1,100 of a 0.2 s backoff) and kill the loop.
_MAX_DOUBLINGS = 64


def exponential_backoff(attempt: int, *, first: float, cap: float = math.inf) -> float:
    """``first``, ``2 * first``, ``4 * first``... for attempts 1, 2, 3..., never above ``cap``."""
    doublings = min(max(attempt, 1) - 1, _MAX_DOUBLINGS)
    return float(min(cap, first * 2.0**doublings))


async def pause_unless_stopped(stopping: asyncio.Event, seconds: float) -> bool:
    """Sleeps ``seconds``, returning early as soon as ``stopping`` is set; True if it is."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await stopping.wait()
    return stopping.is_set()
