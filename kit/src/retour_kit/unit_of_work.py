"""The unit of work: a service's adapters bound to one pooled connection, handed to its entry
points by the composition root.

A service says once, in ``main.py``, how its adapters are built from a connection (``bind``);
routes and Kafka handlers then receive the bound adapters and never build one themselves:

    work = parts.unit_of_work(CaseWork)
    async with work.transaction() as cases:   # a route that writes: all or nothing
        ...
    handler = work.handling(open_cases)        # a Kafka handler: the consumer's transaction

Why one connection: the adapters of one request or one consumer batch must see and write the
same transaction (the case, its outbox row and its idempotency key commit together or not at
all), which only holds when they share the connection.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Generic, TypeVar

from retour_contracts import ParsedEvent
from retour_kit.consuming import HandleBatch
from retour_kit.db import Connection, Database

# Covariant: a unit of work of PgCaseRepository serves where one of its port is expected.
A = TypeVar("A", covariant=True)
B = TypeVar("B")

HandleWith = Callable[[B, Sequence[ParsedEvent]], Awaitable[None]]
"""A Kafka handler written against bound adapters ``B`` rather than a connection."""


class UnitOfWork(Generic[A]):
    """Opens units of work on the service's pool, each with ``bind(connection)`` as adapters.

    The pool is looked up at each use, not when wiring: it opens with the app's lifespan.
    """

    def __init__(self, database: Database, bind: Callable[[Connection], A]) -> None:
        self._database = database
        self._bind = bind

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[A]:
        """Adapters inside one transaction: it commits when the block ends normally and rolls
        back when it raises (a refused request leaves nothing behind)."""
        async with self._database.pool.acquire() as conn, conn.transaction():
            yield self._bind(conn)

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[A]:
        """Adapters for reads, without a transaction of their own: each statement sees the
        latest commits, which is what a read model wants (use ``transaction`` for a read that
        must see one snapshot across statements)."""
        async with self._database.pool.acquire() as conn:
            yield self._bind(conn)

    def handling(
        self, handle: Callable[[A, Sequence[ParsedEvent]], Awaitable[None]]
    ) -> HandleBatch:
        """The consumer's batch handler: the consumer owns the transaction (it also writes the
        batch's inbox rows and commits before the Kafka offsets), so only the binding is here."""

        async def on_batch(conn: Connection, events: Sequence[ParsedEvent]) -> None:
            await handle(self._bind(conn), events)

        return on_batch
