import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from retour_kit.db import Database, DatabaseLimits, DatabaseNotOpenError, create_pool
from retour_kit.readiness import postgres_ready, run_readiness_checks
from retour_kit.settings import ServiceSettings


@pytest.fixture
async def scratch_schema(admin_dsn: str) -> AsyncIterator[str]:
    name = f"kit_db_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f"CREATE SCHEMA {name}")
        yield name
    finally:
        await admin.execute(f"DROP SCHEMA {name} CASCADE")
        await admin.close()


async def test_pool_exchanges_jsonb_as_python_values(admin_dsn: str, scratch_schema: str) -> None:
    pool = await create_pool(admin_dsn, search_path=scratch_schema, min_size=1, max_size=2)
    try:
        await pool.execute("CREATE TABLE documents (body jsonb NOT NULL)")
        await pool.execute("INSERT INTO documents VALUES ($1)", {"aid": ["cash", 150000]})
        stored = await pool.fetchval("SELECT body FROM documents")
        table_schema = await pool.fetchval(
            "SELECT schemaname FROM pg_tables WHERE tablename = 'documents'"
        )
    finally:
        await pool.close()

    assert stored == {"aid": ["cash", 150000]}
    assert table_schema == scratch_schema


async def test_database_is_probed_only_while_open(admin_dsn: str, scratch_schema: str) -> None:
    database = Database(admin_dsn, schema=scratch_schema, application_name="retour-test")
    probe = [postgres_ready(database)]

    with pytest.raises(DatabaseNotOpenError):
        _ = database.pool
    before = await run_readiness_checks(probe)
    await database.open(min_size=1, max_size=1)
    try:
        during = await run_readiness_checks(probe)
        name = await database.pool.fetchval("SELECT current_setting('application_name')")
    finally:
        await database.close()

    assert (before, during) == ({"postgres": "failed"}, {"postgres": "ok"})
    assert name == "retour-test"


FAST_LIMITS = DatabaseLimits(statement_timeout_seconds=0.5, acquire_timeout_seconds=0.5)


async def test_postgres_cancels_a_statement_at_the_statement_timeout(
    admin_dsn: str, scratch_schema: str
) -> None:
    pool = await create_pool(admin_dsn, search_path=scratch_schema, limits=FAST_LIMITS)
    try:
        quick = await pool.fetchval("SELECT 1 FROM pg_sleep(0.1)")
        with pytest.raises(asyncpg.QueryCanceledError):
            await pool.execute("SELECT pg_sleep(5)")
        limits = await pool.fetchrow(
            "SELECT current_setting('statement_timeout') AS statement,"
            " current_setting('idle_in_transaction_session_timeout') AS idle"
        )
    finally:
        await pool.close()

    assert quick == 1
    assert limits is not None
    assert (limits["statement"], limits["idle"]) == ("500ms", "1min")


async def test_waiting_for_a_pooled_connection_gives_up_at_the_acquire_timeout(
    admin_dsn: str, scratch_schema: str
) -> None:
    pool = await create_pool(
        admin_dsn, search_path=scratch_schema, limits=FAST_LIMITS, min_size=1, max_size=1
    )
    try:
        async with pool.acquire():
            # asyncpg's shortcuts acquire without a timeout of their own: the pool's applies.
            with pytest.raises(TimeoutError):
                await pool.fetchval("SELECT 1")
        after = await pool.fetchval("SELECT 1")
    finally:
        await pool.close()

    assert after == 1


def test_the_client_gives_the_server_time_to_cancel_first() -> None:
    limits = DatabaseLimits(statement_timeout_seconds=10)

    assert limits.command_timeout_seconds > limits.statement_timeout_seconds
    assert limits.server_settings()["statement_timeout"] == "10000ms"


def test_a_service_database_takes_its_limits_from_the_settings() -> None:
    settings = ServiceSettings(
        database_url="postgresql://db/retour",
        auth_jwt_secret="s" * 32,
        database_statement_timeout_seconds=3,
        database_acquire_timeout_seconds=2,
    )

    database = Database.for_service(settings, schema="intake")

    assert database.limits == DatabaseLimits(statement_timeout_seconds=3, acquire_timeout_seconds=2)
