"""The service's asyncpg connection pool, with a time limit on everything it does.

Nothing a service sends to Postgres may run, or wait, without a bound: a statement that runs
away burns a core until someone kills it, and a request waiting on it never answers. Three
limits, each for what the others cannot see:

- ``statement_timeout`` (server side): Postgres cancels the statement itself, so nothing is
  left running in ``pg_stat_activity`` whatever happened to the client;
- ``command_timeout`` (client side, a little longer): asyncpg gives up when the server does
  not answer at all (a vanished host, a dropped network), where the server cannot help;
- the acquire timeout: a request waiting for a free connection of a busy pool gives up too.

And two for the connection itself: a connect timeout (a host that does not answer the SYN), and
server-side TCP keepalives, so that Postgres notices a client whose machine or network vanished
and ends its session (its transaction, its locks) instead of keeping it for the kernel's two
hours. Keepalives cannot notice a *frozen* client (a stopped process's kernel still answers
them): a session that must not outlive its client's silence (the outbox relay's leader lock)
also sets ``idle_session_timeout_seconds``.

Every connection goes through here: pools with ``create_pool``, dedicated sessions (the relay's
LISTEN and leader lock, a migration run) with ``connect``.

The first surfaces as ``asyncpg.QueryCanceledError``, the other two as ``TimeoutError``; the
HTTP layer answers both with 503 (``retour_kit.http_errors``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import asyncpg
from asyncpg.pool import PoolAcquireContext, PoolConnectionProxy

from retour_kit.telemetry import connection_class

if TYPE_CHECKING:
    from retour_kit.settings import ServiceSettings

# What a use case gets: a plain connection or one borrowed from a pool; both run queries.
Connection = asyncpg.Connection | PoolConnectionProxy


def rows_affected(status: str) -> int:
    """The row count of a command's status as asyncpg returns it (``"DELETE 1000"``,
    ``"UPDATE 3"``, ``"INSERT 0 1"``)."""
    return int(status.rsplit(" ", 1)[-1])


# The client's limit must not fire before the server's: the server's cancels the statement
# where it runs and says why; the client's is for a server that does not answer at all.
CLIENT_GRACE_SECONDS = 5.0


@dataclass(frozen=True)
class DatabaseLimits:
    """How long a statement may run, and a caller may wait for a pooled connection."""

    statement_timeout_seconds: float = 10.0
    acquire_timeout_seconds: float = 10.0
    # A transaction left open by a bug holds its locks and snapshot: the server ends it.
    idle_in_transaction_timeout_seconds: float = 60.0
    connect_timeout_seconds: float = 10.0
    # The server ends the session of a client silent for this long outside a transaction;
    # None for pooled connections, which legitimately sit idle in the pool.
    idle_session_timeout_seconds: float | None = None
    # Server-side keepalives: a vanished client is noticed after about idle + interval * count
    # (60 s here) instead of the Linux default of two hours.
    tcp_keepalives_idle_seconds: int = 30
    tcp_keepalives_interval_seconds: int = 10
    tcp_keepalives_count: int = 3
    # Keepalives and idle timeouts cannot end a session whose server is blocked writing to a
    # client that stopped reading (a frozen process whose kernel still acknowledges, with a
    # zero window): the backend waits in the write, deaf to its timers, holding its locks. The
    # server closes a connection whose data stays unacknowledged or unsent this long.
    tcp_user_timeout_seconds: float = 60.0

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> DatabaseLimits:
        return cls(
            statement_timeout_seconds=settings.database_statement_timeout_seconds,
            acquire_timeout_seconds=settings.database_acquire_timeout_seconds,
            connect_timeout_seconds=settings.database_connect_timeout_seconds,
        )

    @property
    def command_timeout_seconds(self) -> float:
        return self.statement_timeout_seconds + CLIENT_GRACE_SECONDS

    def server_settings(self) -> dict[str, str]:
        settings = {
            "statement_timeout": _milliseconds(self.statement_timeout_seconds),
            "idle_in_transaction_session_timeout": _milliseconds(
                self.idle_in_transaction_timeout_seconds
            ),
            # Ignored by the server on a Unix socket, where there is no network to lose.
            "tcp_keepalives_idle": str(self.tcp_keepalives_idle_seconds),
            "tcp_keepalives_interval": str(self.tcp_keepalives_interval_seconds),
            "tcp_keepalives_count": str(self.tcp_keepalives_count),
            "tcp_user_timeout": _milliseconds(self.tcp_user_timeout_seconds),
            # Every statement here is short. A report's estimate can still pass JIT's cost
            # threshold once a programme holds tens of thousands of people, and compiling
            # then takes about a second of a 0.2 s query, on every execution.
            "jit": "off",
        }
        if self.idle_session_timeout_seconds is not None:
            settings["idle_session_timeout"] = _milliseconds(self.idle_session_timeout_seconds)
        return settings


def _milliseconds(seconds: float) -> str:
    return f"{round(seconds * 1000)}ms"


class BoundedPool(asyncpg.Pool):
    """An asyncpg pool whose ``acquire()`` waits at most ``acquire_timeout`` by default.

    asyncpg's own shortcuts (``pool.fetch``, ``pool.execute``...) acquire without a timeout;
    they call ``self.acquire()``, so giving it a default bounds them all.
    """

    def __init__(self, *args: Any, acquire_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.acquire_timeout = acquire_timeout

    def acquire(self, *, timeout: float | None = None) -> PoolAcquireContext:
        return super().acquire(timeout=self.acquire_timeout if timeout is None else timeout)


async def create_pool(
    dsn: str,
    *,
    search_path: str | None = None,
    application_name: str | None = None,
    limits: DatabaseLimits | None = None,
    **kw: Any,
) -> BoundedPool:
    """An open pool whose connections exchange json/jsonb values as Python dicts and lists.

    `search_path` pins every connection to the service's own schema, so SQL names
    tables unqualified; `application_name` shows up in pg_stat_activity; `limits` bound
    every statement and every wait for a connection (see the module's docstring).
    """
    limits = limits or DatabaseLimits()
    kw.setdefault("timeout", limits.connect_timeout_seconds)  # each connection's connect
    # Four services with several replicas share one max_connections budget: start small.
    kw.setdefault("min_size", 1)
    kw.setdefault("max_size", 10)
    kw.setdefault("max_queries", 50000)
    kw.setdefault("max_inactive_connection_lifetime", 300.0)
    server_settings = _session_settings(
        limits, search_path, application_name, kw.pop("server_settings", None)
    )
    kw.setdefault("reset", keep_session_state)
    # asyncpg.create_pool takes no pool class: build the pool the way it does.
    pool = BoundedPool(
        dsn,
        acquire_timeout=limits.acquire_timeout_seconds,
        command_timeout=limits.command_timeout_seconds,
        init=register_json_codecs,
        server_settings=server_settings,
        connection_class=connection_class(),
        record_class=asyncpg.Record,
        connect=None,
        setup=None,
        loop=None,
        **kw,
    )
    await pool
    return pool


async def connect(
    dsn: str,
    *,
    search_path: str | None = None,
    application_name: str | None = None,
    limits: DatabaseLimits | None = None,
    server_settings: dict[str, str] | None = None,
) -> asyncpg.Connection:
    """A dedicated connection (not pooled) under the same limits as the pool's, json codecs
    registered: for sessions that hold something of their own (LISTEN, a session lock)."""
    limits = limits or DatabaseLimits()
    connection = await asyncpg.connect(
        dsn,
        connection_class=connection_class(),
        timeout=limits.connect_timeout_seconds,
        command_timeout=limits.command_timeout_seconds,
        server_settings=_session_settings(limits, search_path, application_name, server_settings),
    )
    try:
        await register_json_codecs(connection)
    except BaseException:
        connection.terminate()
        raise
    return connection


def _session_settings(
    limits: DatabaseLimits,
    search_path: str | None,
    application_name: str | None,
    extra: dict[str, str] | None,
) -> dict[str, str]:
    settings = {**limits.server_settings(), **(extra or {})}
    if search_path:
        settings["search_path"] = search_path
    if application_name:
        settings["application_name"] = application_name
    return settings


async def keep_session_state(_: asyncpg.Connection) -> None:
    """Released connections skip asyncpg's reset query (one more round trip per use).

    Pooled connections carry no session state here: transactions are always scoped (asyncpg
    rolls back any left open before this is called), locks are transaction-level, LISTEN and
    the relay's leader lock live on its own dedicated connection, and the one exception,
    migrations at start-up, releases its lock and restores the search_path and the statement
    timeout itself.
    """


async def register_json_codecs(connection: asyncpg.Connection) -> None:
    # Plain json.dumps on purpose: payloads should already be JSON-ready
    # (pydantic's model_dump(mode="json")), so a stray datetime fails loudly.
    for type_name in ("json", "jsonb"):
        await connection.set_type_codec(
            type_name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
        )


class DatabaseNotOpenError(RuntimeError):
    pass


class Database:
    """Holds the pool from lifespan start to stop, so probes and adapters can be
    wired before it exists (asyncpg pools can only be created inside the event loop)."""

    def __init__(
        self,
        dsn: str,
        *,
        schema: str,
        application_name: str | None = None,
        limits: DatabaseLimits | None = None,
        server_settings: dict[str, str] | None = None,
    ) -> None:
        self._dsn = dsn
        self.schema = schema
        self._application_name = application_name
        self.limits = limits or DatabaseLimits()
        self._server_settings = dict(server_settings or {})
        self._pool: asyncpg.Pool | None = None

    @classmethod
    def for_service(
        cls,
        settings: ServiceSettings,
        *,
        schema: str,
        purpose: str | None = None,
        statement_timeout_seconds: float | None = None,
        server_settings: dict[str, str] | None = None,
    ) -> Database:
        """The service's own database, with the limits its settings give.

        A second pool of the service (its reports, a rebuild) names its ``purpose`` (shown in
        pg_stat_activity) and may run statements under another time limit.
        """
        limits = DatabaseLimits.from_settings(settings)
        if statement_timeout_seconds is not None:
            limits = replace(limits, statement_timeout_seconds=statement_timeout_seconds)
        name = f"{settings.service_name}-{purpose}" if purpose else settings.service_name
        return cls(
            settings.database_url,
            schema=schema,
            application_name=name,
            limits=limits,
            server_settings=server_settings,
        )

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise DatabaseNotOpenError("the database pool is not open (lifespan not started)")
        return self._pool

    async def open(self, **pool_options: Any) -> asyncpg.Pool:
        self._pool = await create_pool(
            self._dsn,
            search_path=self.schema,
            application_name=self._application_name,
            limits=self.limits,
            server_settings=self._server_settings,
            **pool_options,
        )
        return self._pool

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()
