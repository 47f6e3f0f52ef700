"""The service's asyncpg connection pool."""

import json
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

# What a use case gets: a plain connection or one borrowed from a pool; both run queries.
Connection = asyncpg.Connection | PoolConnectionProxy


async def create_pool(
    dsn: str, *, search_path: str | None = None, application_name: str | None = None, **kw: Any
) -> asyncpg.Pool:
    """An open pool whose connections exchange json/jsonb values as Python dicts and lists.

    `search_path` pins every connection to the service's own schema, so SQL names
    tables unqualified; `application_name` shows up in pg_stat_activity.
    """
    # Four services with several replicas share one max_connections budget: start small.
    kw.setdefault("min_size", 1)
    kw.setdefault("max_size", 10)
    server_settings = dict(kw.pop("server_settings", None) or {})
    if search_path:
        server_settings["search_path"] = search_path
    if application_name:
        server_settings["application_name"] = application_name
    kw.setdefault("reset", keep_session_state)
    return await asyncpg.create_pool(
        dsn, init=register_json_codecs, server_settings=server_settings, **kw
    )


async def keep_session_state(_: asyncpg.Connection) -> None:
    """Released connections skip asyncpg's reset query (one more round trip per use).

    Pooled connections carry no session state here: transactions are always scoped (asyncpg
    rolls back any left open before this is called), locks are transaction-level, LISTEN and
    the relay's leader lock live on its own dedicated connection, and the one exception,
    migrations at start-up, releases its lock and restores the search_path itself.
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

    def __init__(self, dsn: str, *, schema: str, application_name: str | None = None) -> None:
        self._dsn = dsn
        self.schema = schema
        self._application_name = application_name
        self._pool: asyncpg.Pool | None = None

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
            **pool_options,
        )
        return self._pool

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()
