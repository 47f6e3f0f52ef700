"""Identical report requests made at the same moment share one query.

A dashboard open on many screens, or a client retrying, asks for the same report with the same
filters many times at once. Each used to run the same full read of the projections, and
queue behind the others for one of the few report connections. Requests for the same report
and query that arrive while it is being prepared now wait for that preparation instead, and
receive its result. Nothing is kept once the result is handed out: a request made after it
reads the projections afresh, so this never shows older data than a query of its own would.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any


@dataclass
class _Preparation:
    task: asyncio.Task[Any]
    waiting: int = 0


class SharedReports:
    """At most one preparation per key at a time, shared by every request for that key."""

    def __init__(self) -> None:
        self._preparing: dict[Hashable, _Preparation] = {}

    @property
    def in_preparation(self) -> int:
        """Queries running now."""
        return len(self._preparing)

    @property
    def requesters_in_all(self) -> int:
        """Requests waiting for any query now."""
        return sum(preparation.waiting for preparation in self._preparing.values())

    def requesters(self, key: Hashable) -> int:
        """Requests waiting for the query of ``key`` now."""
        preparation = self._preparing.get(key)
        return 0 if preparation is None else preparation.waiting

    async def prepare(self, key: Hashable, start: Callable[[], Awaitable[Any]]) -> Any:
        """The result of ``start()``, or of the one already running for ``key``.

        The preparation runs as a task of its own, so one requester leaving does not cancel it
        for the others; when the last one leaves, it is cancelled (its query too), as a single
        request's would be.
        """
        preparation = self._preparing.get(key)
        if preparation is None:
            preparation = _Preparation(asyncio.ensure_future(start()))
            self._preparing[key] = preparation
            preparation.task.add_done_callback(lambda _: self._forget(key, preparation))
        preparation.waiting += 1
        try:
            return await asyncio.shield(preparation.task)
        finally:
            preparation.waiting -= 1
            if preparation.waiting == 0 and not preparation.task.done():
                # Forgotten before it is cancelled: a request arriving meanwhile starts afresh
                # rather than joining a preparation that is being cancelled.
                self._forget(key, preparation)
                preparation.task.cancel()

    def _forget(self, key: Hashable, preparation: _Preparation) -> None:
        if self._preparing.get(key) is preparation:
            del self._preparing[key]
