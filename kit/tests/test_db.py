import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from retour_kit.db import Database, DatabaseNotOpenError, create_pool
from retour_kit.readiness import postgres_ready, run_readiness_checks


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
