"""What a service plugs into an ``EventConsumer``: a function of a connection and events."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from asyncpg import Connection
from asyncpg.pool import PoolConnectionProxy

from retour_contracts import ParsedEvent

DbConnection = Connection | PoolConnectionProxy
"""Where a handler writes: inside the transaction that also records the events in the inbox."""

HandleEvent = Callable[[DbConnection, ParsedEvent], Awaitable[None]]
"""Applies one event. Must not commit, roll back or open a connection of its own.

Only what it writes through ``conn`` is exactly-once: a batch that fails is rolled back and
retried, so an effect outside the transaction (an SMS sent, an HTTP call) can happen again.
Record the intent in the transaction and act on it afterwards, or make the effect idempotent.
An exception's message becomes ``dlq_reason`` and a log field: keep personal data out of it.
"""

HandleBatch = Callable[[DbConnection, Sequence[ParsedEvent]], Awaitable[None]]
"""Applies new events of one partition, in offset order (e.g. with one ``executemany``);
the same rules as ``HandleEvent`` apply."""


class TransientError(Exception):
    """Raise from a handler when a dependency is unavailable (an SMS gateway, an SMTP relay).

    The batch is retried with capped backoff for as long as it takes and never dead-lettered,
    exactly like a Postgres outage; any other exception counts against the event's attempts.
    """


def each_event(handle: HandleEvent) -> HandleBatch:
    """Adapts a one-event handler to the batch interface; events still share one transaction."""

    async def handle_batch(conn: DbConnection, events: Sequence[ParsedEvent]) -> None:
        for event in events:
            await handle(conn, event)

    handle_batch.__name__ = getattr(handle, "__name__", "handle_batch")
    return handle_batch
