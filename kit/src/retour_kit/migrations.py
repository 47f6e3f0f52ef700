"""A tiny forward-only SQL migration runner, one history per service schema.

Migrations are files `NNNN_description.sql` in the `<package>.migrations` package.
Each runs in its own transaction together with its row in
`<schema>.schema_migrations`, so a failed file leaves no trace and is retried on
the next run. The runner needs no more than a role that owns its schema: the
schema itself is created beforehand by the provisioning admin.

The kit's own tables (outbox, inbox, idempotency_keys: `retour_kit/tables/`) are kit
migrations: a service names those its schema has in its migrations package,
`KIT_TABLES = ("outbox", "idempotency_keys")`, and they are applied in the same locked run,
before the service's own pending files (which may then reference them). A kit table may have
several files: the first creates (or adopts) it, later ones change it (an index, say).
"""

import hashlib
import importlib
import re
from dataclasses import dataclass, replace
from importlib import resources

import structlog

from retour_kit.db import Connection, connect

_log = structlog.stdlib.get_logger(__name__)

_FILE_NAME = re.compile(r"^(?P<version>\d{4})_(?P<description>[a-z0-9_]+)\.sql$")
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
# An applied file may be edited only if it says so in its header (its leading comment lines),
# naming the exact checksum it replaces: the runner then takes that recorded checksum as equal.
# Meant for edits that leave an already-migrated schema as it is (a table moved into the kit),
# visible in review; any other edit of an applied file is still refused.
_DIRECTIVE = "-- retour:"
_REPLACES = re.compile(r"^-- retour: replaces sha256 (?P<checksum>[0-9a-f]{64})$")


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
    replaces: frozenset[str] = frozenset()
    """Checksums of earlier contents this file declares it replaces (`-- retour: replaces`)."""
    creates_table: str | None = None
    """For a kit table's migration: the table, which it creates or adopts."""

    @property
    def accepted_checksums(self) -> frozenset[str]:
        return self.replaces | {self.checksum}


@dataclass(frozen=True)
class KitMigration:
    version: int
    table: str
    file: str


# The kit's table migrations, in the order they are applied. Their history is kept in the
# service schema's own schema_migrations, under negative versions named `kit:<file stem>`:
# service files are numbered 0000 to 9999, so a kit row never clashes with one; one table keeps
# the schema's whole history under one lock, each step in one transaction with its row, as for
# a service file; and a pod of an earlier release, which tolerates recorded versions it has no
# file for, ignores them during a rolling deploy. A version is fixed once released: a later
# change to a kit table is a new file with the next free negative version.
KIT_MIGRATIONS = (
    KitMigration(version=-1, table="outbox", file="outbox.sql"),
    KitMigration(version=-2, table="inbox", file="inbox.sql"),
    KitMigration(version=-3, table="idempotency_keys", file="idempotency_keys.sql"),
    KitMigration(version=-4, table="access_log", file="access_log.sql"),
    # What retention (retour_kit.retention) deletes, found by age without a full scan.
    KitMigration(version=-5, table="inbox", file="inbox_by_age.sql"),
    KitMigration(version=-6, table="idempotency_keys", file="idempotency_keys_by_age.sql"),
)
KIT_TABLE_NAMES = tuple(dict.fromkeys(migration.table for migration in KIT_MIGRATIONS))


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


def declared_kit_tables(package: str) -> tuple[str, ...]:
    """The kit's tables `<package>.migrations` declares in `KIT_TABLES`: those its schema has."""
    declared = getattr(importlib.import_module(f"{package}.migrations"), "KIT_TABLES", ())
    if not isinstance(declared, tuple | list) or not all(isinstance(t, str) for t in declared):
        raise MigrationError(f"{package}.migrations.KIT_TABLES must be a tuple of table names")
    unknown = sorted(set(declared) - set(KIT_TABLE_NAMES))
    if unknown:
        raise MigrationError(
            f"{package}.migrations.KIT_TABLES names {', '.join(unknown)}: the kit's tables are "
            f"{', '.join(KIT_TABLE_NAMES)}"
        )
    return tuple(declared)


def kit_migrations(package: str) -> list[Migration]:
    """The kit table migrations of the tables `<package>.migrations` declares in `KIT_TABLES`."""
    declared = declared_kit_tables(package)
    tables = resources.files("retour_kit.tables")
    migrations: list[Migration] = []
    present: set[str] = set()
    for kit in KIT_MIGRATIONS:
        if kit.table not in declared:
            continue
        migration = _migration(
            kit.version, f"kit:{kit.file}", tables.joinpath(kit.file).read_bytes()
        )
        # A table's first file creates or adopts it; its later files change it.
        if kit.table not in present:
            migration = replace(migration, creates_table=kit.table)
            present.add(kit.table)
        migrations.append(migration)
    return migrations


def _migration(version: int, file_name: str, content: bytes) -> Migration:
    name = file_name.removesuffix(".sql")
    sql = content.decode("utf-8")
    return Migration(
        version=version,
        name=name,
        sql=sql,
        checksum=hashlib.sha256(content).hexdigest(),
        replaces=_replaced_checksums(name, sql),
    )


def _replaced_checksums(name: str, sql: str) -> frozenset[str]:
    replaced: set[str] = set()
    for line in sql.splitlines():
        if not line.startswith("--"):
            break  # the header ends with the first line that is not a comment
        if not line.startswith(_DIRECTIVE):
            continue
        match = _REPLACES.match(line.rstrip())
        if match is None:
            raise MigrationError(
                f"{name}: {line!r} is not `-- retour: replaces sha256 <64 lower-case hex digits>`"
            )
        replaced.add(match["checksum"])
    return frozenset(replaced)


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
    # The kit's tables first: the service's own files may reference them.
    migrations = kit_migrations(package) + discover_migrations(package)
    if isinstance(target, str):
        # Under the kit's limits (connect timeout, keepalives); the runner lifts the
        # statement timeout itself for the migration's own statements.
        connection = await connect(target)
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
            existed = migration.creates_table is not None and await connection.fetchval(
                "SELECT to_regclass(format('%I.%I', $1::text, $2::text)) IS NOT NULL",
                schema,
                migration.creates_table,
            )
            await connection.execute(migration.sql, timeout=MIGRATION_TIMEOUT)
            await connection.execute(
                "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                migration.version,
                migration.name,
                migration.checksum,
            )
        if migration.creates_table is None:
            _log.info("migration applied", schema=schema, migration=migration.name)
        else:
            # Adopted: the service's own migrations created it before the kit owned it; it is
            # kept as it is, rows and all.
            _log.info(
                "kit table adopted" if existed else "kit table created",
                schema=schema,
                table=migration.creates_table,
                migration=migration.name,
            )
    return [migration.name for migration in pending]


def _refuse_edited(schema: str, migrations: list[Migration], applied: dict[int, str]) -> None:
    # Versions recorded but absent from the files are tolerated on purpose: during a
    # rolling deploy, pods of the previous release restart against the newer schema.
    for migration in migrations:
        recorded = applied.get(migration.version)
        if recorded is not None and recorded not in migration.accepted_checksums:
            replaced = ", ".join(sorted(checksum[:12] for checksum in migration.replaces))
            replaces = f", and its header replaces only {replaced}" if replaced else ""
            raise MigrationChecksumError(
                f"migration {migration.name} in schema {schema} was edited after it was "
                f"applied (recorded checksum {recorded[:12]}, file {migration.checksum[:12]}"
                f"{replaces}); restore the file and add a new migration instead"
            )
