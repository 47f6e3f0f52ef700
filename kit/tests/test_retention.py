"""Retention of the kit's tables (retour_kit.retention) against a real PostgreSQL: a throwaway
schema migrated with the kit's inbox and idempotency_keys, owned by a throwaway login role as
provisioning creates them for a service."""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from prometheus_client import CollectorRegistry
from pydantic import ValidationError
from structlog.testing import capture_logs

from retour_kit.db import Database
from retour_kit.migrations import migrate
from retour_kit.retention import (
    Expiry,
    RetentionMetrics,
    RetentionWorker,
    expiries,
    prune,
)
from retour_kit.settings import ConsumingSettings, ServiceSettings, describe_errors
from retour_test_infra import eventually

SECRET = "s" * 32
DAY = timedelta(days=1)


@pytest.fixture
async def database(
    admin_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Database]:
    name = f"kit_retention_{uuid.uuid4().hex[:12]}"
    password = uuid.uuid4().hex
    package = tmp_path / name / "migrations"
    package.mkdir(parents=True)
    (tmp_path / name / "__init__.py").touch()
    (package / "__init__.py").write_text('KIT_TABLES = ("inbox", "idempotency_keys")\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f"CREATE ROLE {name} LOGIN PASSWORD '{password}'")
        await admin.execute(f"CREATE SCHEMA {name} AUTHORIZATION {name}")
        db_name = await admin.fetchval("SELECT current_database()")
        await admin.execute(f"GRANT CONNECT ON DATABASE {db_name} TO {name}")
        parts = urlsplit(admin_dsn)
        host = parts.netloc.rpartition("@")[2]
        dsn = urlunsplit(parts._replace(netloc=f"{name}:{password}@{host}"))
        await migrate(dsn, schema=name, package=name)
        database = Database(dsn, schema=name)
        await database.open(min_size=1, max_size=2)
        try:
            yield database
        finally:
            await database.close()
    finally:
        await admin.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
        await admin.execute(f"DROP OWNED BY {name}")
        await admin.execute(f"DROP ROLE IF EXISTS {name}")
        await admin.close()


async def add_inbox_rows(database: Database, count: int, *, age: timedelta) -> set[uuid.UUID]:
    ids = [uuid.uuid4() for _ in range(count)]
    await database.pool.execute(
        "INSERT INTO inbox (consumer, event_id, processed_at)"
        " SELECT 'test', id, now() - $2::interval FROM unnest($1::uuid[]) AS id",
        ids,
        age,
    )
    return set(ids)


async def add_keys(database: Database, count: int, *, age: timedelta) -> set[str]:
    keys = [f"registrar:{uuid.uuid4()}" for _ in range(count)]
    await database.pool.execute(
        "INSERT INTO idempotency_keys (key, fingerprint, status, body, created_at)"
        " SELECT key, 'f', 201, '{\"returnee_id\": \"r\"}', now() - $2::interval"
        " FROM unnest($1::text[]) AS key",
        keys,
        age,
    )
    return set(keys)


async def inbox_ids(database: Database) -> set[uuid.UUID]:
    return {row[0] for row in await database.pool.fetch("SELECT event_id FROM inbox")}


async def key_names(database: Database) -> set[str]:
    return {row[0] for row in await database.pool.fetch("SELECT key FROM idempotency_keys")}


def counted(registry: CollectorRegistry, table: str) -> float | None:
    return registry.get_sample_value("retention_pruned_rows_total", {"table": table})


class TestPruning:
    async def test_old_rows_go_and_recent_ones_stay(self, database: Database) -> None:
        old_events = await add_inbox_rows(database, 3, age=31 * DAY)
        recent_events = await add_inbox_rows(database, 2, age=29 * DAY)
        old_keys = await add_keys(database, 2, age=8 * DAY)
        recent_keys = await add_keys(database, 3, age=6 * DAY)

        inbox = await prune(database.pool, Expiry("inbox", 30 * DAY))
        keys = await prune(database.pool, Expiry("idempotency_keys", 7 * DAY))

        assert (inbox, keys) == (len(old_events), len(old_keys))
        assert await inbox_ids(database) == recent_events
        assert await key_names(database) == recent_keys

    async def test_more_rows_than_a_batch_are_deleted_a_batch_per_statement(
        self, database: Database
    ) -> None:
        old = await add_inbox_rows(database, 23, age=40 * DAY)
        recent = await add_inbox_rows(database, 4, age=DAY)
        statements: list[str] = []
        async with database.pool.acquire() as connection:
            connection.add_query_logger(lambda query: statements.append(query.query))
            # One connection standing in for the pool, to see each statement it runs.
            pruned = await prune(connection, Expiry("inbox", 30 * DAY), batch_rows=5)

        assert pruned == len(old)
        assert await inbox_ids(database) == recent
        assert len([s for s in statements if s.lstrip().startswith("DELETE")]) == 5  # 5+5+5+5+3

    async def test_a_stop_is_honoured_between_two_batches(self, database: Database) -> None:
        await add_inbox_rows(database, 12, age=40 * DAY)
        stopping = asyncio.Event()
        stopping.set()

        pruned = await prune(
            database.pool, Expiry("inbox", 30 * DAY), batch_rows=5, stopping=stopping
        )

        assert pruned == 0
        assert len(await inbox_ids(database)) == 12


class TestWorker:
    async def test_a_pass_prunes_every_table_counts_and_logs_only_counts(
        self, database: Database
    ) -> None:
        old_events = await add_inbox_rows(database, 7, age=31 * DAY)
        old_keys = await add_keys(database, 4, age=8 * DAY)
        registry = CollectorRegistry()
        worker = RetentionWorker(
            database.pool,
            [Expiry("idempotency_keys", 7 * DAY), Expiry("inbox", 30 * DAY)],
            RetentionMetrics(registry),
            interval_seconds=3600,
            batch_rows=3,
        )
        assert (counted(registry, "inbox"), counted(registry, "idempotency_keys")) == (0, 0)

        with capture_logs() as logs:
            pruned = await worker.prune_once()

        assert pruned == {"idempotency_keys": 4, "inbox": 7}
        assert (counted(registry, "inbox"), counted(registry, "idempotency_keys")) == (7, 4)
        assert logs == [
            {
                "event": "expired rows deleted",
                "log_level": "info",
                "idempotency_keys": 4,
                "inbox": 7,
            }
        ]
        printed = repr(logs)
        assert not any(str(row) in printed for row in (*old_events, *old_keys))

    async def test_a_failing_table_is_logged_and_left_to_the_next_pass(
        self, database: Database
    ) -> None:
        await add_inbox_rows(database, 2, age=31 * DAY)
        await database.pool.execute("DROP TABLE idempotency_keys")
        worker = RetentionWorker(
            database.pool,
            [Expiry("idempotency_keys", 7 * DAY), Expiry("inbox", 30 * DAY)],
            RetentionMetrics(CollectorRegistry()),
            interval_seconds=3600,
        )

        with capture_logs() as logs:
            pruned = await worker.prune_once()

        assert pruned == {"inbox": 2}
        assert [(log["event"], log.get("table")) for log in logs] == [
            ("retention pass failed", "idempotency_keys"),
            ("expired rows deleted", None),
        ]
        assert "UndefinedTableError" in logs[0]["error"]

    async def test_the_first_pass_comes_soon_and_a_stop_ends_the_worker_at_once(
        self, database: Database
    ) -> None:
        await add_inbox_rows(database, 3, age=31 * DAY)
        registry = CollectorRegistry()
        worker = RetentionWorker(
            database.pool,
            [Expiry("inbox", 30 * DAY)],
            RetentionMetrics(registry),
            interval_seconds=1,  # the first pass waits one interval when it is the shorter
        )
        stopping = asyncio.Event()
        running = asyncio.create_task(worker.run(stopping))
        try:
            left = await eventually(
                lambda: inbox_ids(database),
                until=lambda ids: not ids,
                within=10,
                what="the first pass",
            )
        finally:
            stopping.set()
            started = time.monotonic()
            async with asyncio.timeout(5):
                await running

        assert time.monotonic() - started < 1
        assert left == set()
        assert counted(registry, "inbox") == 3

    async def test_a_stop_during_the_long_pause_ends_the_worker_at_once(
        self, database: Database
    ) -> None:
        worker = RetentionWorker(
            database.pool,
            [Expiry("inbox", 30 * DAY)],
            RetentionMetrics(CollectorRegistry()),
            interval_seconds=3600,
        )
        stopping = asyncio.Event()
        running = asyncio.create_task(worker.run(stopping))
        await asyncio.sleep(0.2)

        stopping.set()
        started = time.monotonic()
        async with asyncio.timeout(5):
            await running

        assert time.monotonic() - started < 1


class TestSettings:
    def test_what_is_pruned_follows_the_tables_the_schema_has(self) -> None:
        consuming = ConsumingSettings(
            database_url="postgresql://db/retour",
            auth_jwt_secret=SECRET,
            consumer_group="g",
            inbox_retention_days=45,
            idempotency_retention_days=3,
        )
        plain = ServiceSettings(database_url="postgresql://db/retour", auth_jwt_secret=SECRET)

        assert expiries(consuming, ("inbox", "outbox", "idempotency_keys")) == [
            Expiry("idempotency_keys", 3 * DAY),
            Expiry("inbox", 45 * DAY),
        ]
        assert expiries(plain, ("outbox", "idempotency_keys", "access_log")) == [
            Expiry("idempotency_keys", 7 * DAY)
        ]
        assert expiries(plain, ("outbox", "access_log")) == []
        with pytest.raises(TypeError, match="need ConsumingSettings"):
            expiries(plain, ("inbox",))

    def test_defaults(self) -> None:
        settings = ConsumingSettings(
            database_url="postgresql://db/retour", auth_jwt_secret=SECRET, consumer_group="g"
        )

        assert settings.idempotency_retention_days == 7
        assert settings.inbox_retention_days == 30
        assert settings.retention_interval_seconds == 3600

    @pytest.mark.parametrize(
        ("setting", "value", "message"),
        [
            (
                "idempotency_retention_days",
                0,
                "IDEMPOTENCY_RETENTION_DAYS: input should be greater than or equal to 1",
            ),
            (
                "inbox_retention_days",
                0,
                "INBOX_RETENTION_DAYS: input should be greater than or equal to 1",
            ),
            (
                "inbox_retention_days",
                0.5,
                "INBOX_RETENTION_DAYS: input should be a valid integer, got a number with a"
                " fractional part",
            ),
            (
                "retention_interval_seconds",
                0.5,
                "RETENTION_INTERVAL_SECONDS: input should be greater than or equal to 1",
            ),
            (
                "retention_interval_seconds",
                90000,
                "RETENTION_INTERVAL_SECONDS: input should be less than or equal to 86400",
            ),
        ],
    )
    def test_refuses_a_retention_shorter_than_a_day_or_an_odd_interval(
        self, setting: str, value: float, message: str
    ) -> None:
        changes: dict[str, Any] = {setting: value}
        with pytest.raises(ValidationError) as refused:
            ConsumingSettings(
                database_url="postgresql://db/retour",
                auth_jwt_secret=SECRET,
                consumer_group="g",
                **changes,
            )

        assert describe_errors(refused.value) == message
