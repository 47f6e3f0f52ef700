"""A tiny forward-only SQL migration runner, one history per service schema.

Migrations are files `NNNN_description.sql` in the `<package>.migrations` package.
Each runs in its own transaction together with its row in
`<schema>.schema_migrations`, so a failed file leaves no trace and is retried on
the next run. The runner needs no more than a role that owns its schema: the
schema itself is created beforehand by the provisioning admin.
"""

import hashlib
import re
from dataclasses import dataclass
from importlib import resources

import asyncpg
import structlog

from retour_kit.db import Connection

_log = structlog.stdlib.get_logger(__name__)

_FILE_NAME = re.compile(r"^(?P<version>\d{4})_(?P<description>[a-z0-9_]+)\.sql$")
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class MigrationError(Exception):
    pass


class MigrationChecksumError(MigrationError):
    """An already-applied migration file was edited afterwards."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str
    checksum: str


def discover_migrations(package: str) -> list[Migration]:
    """The `.sql` files of `<package>.migrations`, ordered by version."""
    found: dict[int, Migration] = {}
    for entry in resources.files(f"{package}.migrations").iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _FILE_NAME.match(entry.name)
        if match is None:
            raise MigrationError(f"{entry.name}: migration files are named NNNN_description.sql")
        migration = _migration(int(match["version"]), entry.name, entry.read_bytes())
        if migration.version in found:
            raise MigrationError(f"{package}: two migrations share version {migration.version}")
        found[migration.version] = migration
    return [found[version] for version in sorted(found)]


def _migration(version: int, file_name: str, content: bytes) -> Migration:
    return Migration(
        version=version,
        name=file_name.removesuffix(".sql"),
        sql=content.decode("utf-8"),
        checksum=hashlib.sha256(content).hexdigest(),
    )


# Pooled connections carry a client-side command timeout sized for ordinary statements
# (retour_kit.db); a migration, or waiting for another instance's, gets this one instead.
MIGRATION_TIMEOUT = 6 * 3600.0


async def migrate(target: Connection | str, *, schema: str, package: str) -> list[str]:
    """Applies the pending migrations of `package` inside `schema`; returns their names.

    `target` is an open or pooled connection (left open) or a DSN (connected and
    closed here).
    """
    if not _SCHEMA_NAME.match(schema):
        raise MigrationError(f"{schema!r} is not a plain lower-case schema name")
    migrations = discover_migrations(package)
    if isinstance(target, str):
        connection = await asyncpg.connect(target)
        try:
            return await _migrate_locked(connection, schema, migrations)
        finally:
            await connection.close()
    return await _migrate_locked(target, schema, migrations)


async def _migrate_locked(
    connection: Connection, schema: str, migrations: list[Migration]
) -> list[str]:
    # Instances starting together all try to migrate. A session-level advisory lock
    # keyed on the schema serialises them for the whole run: the first applies
    # everything, the others wait, then find nothing pending.
    lock_key = f"retour.migrations.{schema}"
    previous_search_path = await connection.fetchval("SELECT current_setting('search_path')")
    previous_timeout = await connection.fetchval("SELECT current_setting('statement_timeout')")
    # A migration may rewrite a large table, and an instance waiting for another's migrations
    # waits as long as they take: neither is a runaway query. The limit comes back after.
    await connection.execute("SELECT set_config('statement_timeout', '0', false)")
    try:
        await connection.execute(
            "SELECT pg_advisory_lock(hashtextextended($1, 0))", lock_key, timeout=MIGRATION_TIMEOUT
        )
        try:
            await _require_schema(connection, schema)
            await connection.execute("SELECT set_config('search_path', $1, false)", schema)
            await _ensure_history_table(connection)
            return await _apply_pending(connection, schema, migrations)
        finally:
            await connection.execute("SELECT pg_advisory_unlock(hashtextextended($1, 0))", lock_key)
    finally:
        await connection.execute(
            "SELECT set_config('search_path', $1, false),"
            " set_config('statement_timeout', $2, false)",
            previous_search_path,
            previous_timeout,
        )


async def _require_schema(connection: Connection, schema: str) -> None:
    exists = await connection.fetchval("SELECT 1 FROM pg_namespace WHERE nspname = $1", schema)
    if not exists:
        raise MigrationError(
            f"schema {schema} does not exist: an administrator creates it and the service "
            "role first (retour_kit.provision)"
        )


async def _ensure_history_table(connection: Connection) -> None:
    await connection.execute(
        """
        CREATE TABLE IF NOT EXISTS schema_migrations (
            version    int PRIMARY KEY,
            name       text NOT NULL,
            checksum   text NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )


async def _apply_pending(
    connection: Connection, schema: str, migrations: list[Migration]
) -> list[str]:
    applied = {
        row["version"]: row["checksum"]
        for row in await connection.fetch("SELECT version, checksum FROM schema_migrations")
    }
    _refuse_edited(schema, migrations, applied)
    pending = [migration for migration in migrations if migration.version not in applied]
    for migration in pending:
        async with connection.transaction():
            await connection.execute(migration.sql, timeout=MIGRATION_TIMEOUT)
            await connection.execute(
                "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                migration.version,
                migration.name,
                migration.checksum,
            )
        _log.info("migration applied", schema=schema, migration=migration.name)
    return [migration.name for migration in pending]


def _refuse_edited(schema: str, migrations: list[Migration], applied: dict[int, str]) -> None:
    # Versions recorded but absent from the files are tolerated on purpose: during a
    # rolling deploy, pods of the previous release restart against the newer schema.
    for migration in migrations:
        recorded = applied.get(migration.version)
        if recorded is not None and recorded != migration.checksum:
            raise MigrationChecksumError(
                f"migration {migration.name} in schema {schema} was edited after it was "
                f"applied (recorded checksum {recorded[:12]}, file {migration.checksum[:12]}); "
                "restore the file and add a new migration instead"
            )
