"""The outbox, inbox and idempotency tables belong to the kit (issue 12): kit migrations create
them in each service's schema, and a schema migrated before that adopts the tables it has.

"Before" is frozen in tests/migrations_before_kit_tables/: the four services' migration files
and the runner of that time. Every test below works in throwaway schemas, each owned by a
throwaway login role as provisioning creates them for a service.
"""

from __future__ import annotations

import importlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from migrations_before_kit_tables.runner import migrate as migrate_before
from retour_toy_service import KIT_TABLES as TOY_KIT_TABLES
from retour_toy_service import toy_service
from structlog.testing import capture_logs

from retour_kit.migrations import migrate
from retour_kit.provision import EXTENSIONS_SCHEMA
from retour_test_infra import SERVICES, Infra

BEFORE = "migrations_before_kit_tables"

# Rows in each kit table a service's schema had, every column given, bytes and JSON included.
KIT_TABLE_ROWS = {
    "outbox": """
        INSERT INTO outbox (event_id, topic, key, value, headers) VALUES
          (gen_random_uuid(), 'returnee.registered', '\\x00ff10'::bytea,
           convert_to('{"name": "Aïssata"}', 'UTF8'), '[["ce_id", "1"], ["ce_type", "x"]]'),
          (gen_random_uuid(), 'aid.granted', '\\x01'::bytea, '\\x7b7d'::bytea, '[]')
    """,
    "inbox": """
        INSERT INTO inbox (consumer, event_id) VALUES
          ('reintegration', gen_random_uuid()), ('replay', gen_random_uuid())
    """,
    "idempotency_keys": """
        INSERT INTO idempotency_keys (key, fingerprint, status, body) VALUES
          ('registrar-1:k1', 'f1', 201, '{"returnee_id": "r1", "n": [1, 2.5]}'),
          ('registrar-1:k2', 'f2', NULL, NULL)
    """,
}
# And one row in a table of the service's own.
SERVICE_TABLE_ROWS = {
    "intake": """
        INSERT INTO returnees VALUES (gen_random_uuid(), 'Dakar', '2024-05-01', now(),
          'aissata diallo', 'diallo', '1990-02-03', 1990, '+221770000000', '{"a": 1}')
    """,
    "reintegration": """
        INSERT INTO cases (returnee_id, reception_centre, region_of_origin, arrival_date,
          registered_at) VALUES (gen_random_uuid(), 'Dakar', 'Kolda', '2024-05-01', now())
    """,
    "notifications": """
        INSERT INTO contacts (returnee_id, reception_centre, language, sms_consent, phone,
          registered_at) VALUES (gen_random_uuid(), 'Dakar', 'wo', true, '+221770000000', now())
    """,
    "reporting": """
        INSERT INTO registrations VALUES (gen_random_uuid(), '2024-05-01', 'Dakar', 'voluntary',
          'LY', 'Kolda', 'female', '18-24', '{pregnant}')
    """,
}


@dataclass(frozen=True)
class Scratch:
    name: str
    owner_dsn: str  # a role that owns this schema and nothing else

    async def connect(self) -> asyncpg.Connection:
        return await asyncpg.connect(self.owner_dsn, server_settings={"search_path": self.name})


@pytest.fixture
async def scratch_schema(infra: Infra) -> AsyncIterator[Callable[[], Awaitable[Scratch]]]:
    admin = await asyncpg.connect(infra.admin_dsn)
    made: list[str] = []

    async def make() -> Scratch:
        name = f"kit_tables_{uuid.uuid4().hex[:12]}"
        password = uuid.uuid4().hex
        made.append(name)
        await admin.execute(f"CREATE ROLE {name} LOGIN PASSWORD '{password}'")
        await admin.execute(f"CREATE SCHEMA {name} AUTHORIZATION {name}")
        database = await admin.fetchval("SELECT current_database()")
        await admin.execute(f"GRANT CONNECT ON DATABASE {database} TO {name}")
        # What provisioning gives a service role whose migrations use the shared extensions
        # (intake's search: retour_kit.provision.SERVICE_EXTENSIONS).
        await admin.execute(f"GRANT USAGE ON SCHEMA {EXTENSIONS_SCHEMA} TO {name}")
        parts = urlsplit(infra.admin_dsn)
        host = parts.netloc.rpartition("@")[2]
        dsn = urlunsplit(parts._replace(netloc=f"{name}:{password}@{host}"))
        return Scratch(name, dsn)

    try:
        yield make
    finally:
        for name in made:
            await admin.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
            await admin.execute(f"DROP OWNED BY {name}")
            await admin.execute(f"DROP ROLE IF EXISTS {name}")
        await admin.close()


ADOPTABLE = ("outbox", "inbox", "idempotency_keys")
"""The kit tables the services' own migrations created before the kit owned them; the kit's
later tables (the access log) are new to every schema, created at the upgrade."""

LATER_INDEXES = {"inbox_by_age": "inbox", "idempotency_keys_by_age": "idempotency_keys"}
"""The kit's later files that change a table it already had (index -> table), for retention
(retour_kit.retention): added to adopted and new tables alike at the upgrade."""
KIT_FILES = ("outbox", "inbox", "idempotency_keys", "access_log", *LATER_INDEXES)
"""The kit's migration files, in the order they are applied."""


def table_of(kit_file: str) -> str:
    return LATER_INDEXES.get(kit_file, kit_file)


def kit_tables_of(package: str) -> tuple[str, ...]:
    declared: tuple[str, ...] = getattr(
        importlib.import_module(f"{package}.migrations"), "KIT_TABLES", ()
    )
    return declared


async def tables(connection: asyncpg.Connection) -> dict[str, int]:
    """Each table of the schema (history aside) and its oid: a recreated table has a new one."""
    rows = await connection.fetch(
        "SELECT relname, oid FROM pg_class"
        " WHERE relnamespace = current_schema()::regnamespace AND relkind = 'r'"
        " AND relname <> 'schema_migrations'"
    )
    return {row["relname"]: row["oid"] for row in rows}


async def contents(connection: asyncpg.Connection) -> dict[str, list[str]]:
    """Every row of every table, as Postgres prints it (bytea in hex, jsonb as stored)."""
    return {
        table: await connection.fetchval(
            f"SELECT coalesce(array_agg(t::text ORDER BY t::text), '{{}}') FROM {table} t"  # noqa: S608
        )
        for table in sorted(await tables(connection))
    }


async def indexes(connection: asyncpg.Connection) -> set[str]:
    rows = await connection.fetch(
        "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
    )
    return {row["indexname"] for row in rows}


async def history(connection: asyncpg.Connection) -> list[tuple[Any, ...]]:
    rows = await connection.fetch("SELECT * FROM schema_migrations ORDER BY version")
    return [tuple(row.values()) for row in rows]


async def filled_before(
    schema: Scratch, service: str, declared: tuple[str, ...]
) -> asyncpg.Connection:
    """A connection to ``schema`` built by the earlier runner and files, with rows in each of
    its kit tables and in one table of the service's own."""
    assert await migrate_before(schema.owner_dsn, schema=schema.name, package=f"{BEFORE}.{service}")
    connection = await schema.connect()
    try:
        for table in declared:
            if table in ADOPTABLE:
                await connection.execute(KIT_TABLE_ROWS[table])
        await connection.execute(SERVICE_TABLE_ROWS[service])
    except BaseException:
        await connection.close()
        raise
    return connection


FROZEN_VERSION = 2
"""The last version of the services' own files in the frozen copy: the kit's tables are
compared on schemas whose own files stop there, so later service migrations (intake's
erasure columns, notifications' forgetting tables) do not blur what the kit changed."""


@pytest.fixture
def as_frozen(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], str]:
    """A package holding a service's current migrations ``__init__`` (its KIT_TABLES) and its
    current files up to FROZEN_VERSION; returns the package's name."""

    def make(service: str) -> str:
        name = f"as_frozen_{service}_{uuid.uuid4().hex[:8]}"
        target = tmp_path / name / "migrations"
        target.mkdir(parents=True)
        (tmp_path / name / "__init__.py").write_text("")
        for entry in resources.files(f"retour_{service}.migrations").iterdir():
            if entry.name == "__init__.py" or (
                entry.name.endswith(".sql") and int(entry.name[:4]) <= FROZEN_VERSION
            ):
                (target / entry.name).write_bytes(entry.read_bytes())
        monkeypatch.syspath_prepend(str(tmp_path))
        return name

    return make


@pytest.mark.integration
@pytest.mark.parametrize("service", SERVICES)
async def test_a_schema_migrated_before_upgrades_in_place_with_every_row(
    scratch_schema: Callable[[], Awaitable[Scratch]],
    as_frozen: Callable[[str], str],
    service: str,
) -> None:
    schema = await scratch_schema()
    package = as_frozen(service)
    declared = kit_tables_of(package)
    connection = await filled_before(schema, service, declared)
    try:
        tables_before, rows_before = await tables(connection), await contents(connection)
        history_before, indexes_before = await history(connection), await indexes(connection)

        with capture_logs() as logs:
            applied = await migrate(schema.owner_dsn, schema=schema.name, package=package)
        again = await migrate(schema.owner_dsn, schema=schema.name, package=package)

        tables_after, rows_after = await tables(connection), await contents(connection)
        history_after, indexes_after = await history(connection), await indexes(connection)
        if "outbox" in declared:  # its identity goes on where it was
            next_id = await connection.fetchval(
                "INSERT INTO outbox (event_id, topic, key, value, headers)"
                " VALUES (gen_random_uuid(), 't', '', '', '[]') RETURNING id"
            )
            assert next_id == 3
    finally:
        await connection.close()

    adopted = [table for table in ADOPTABLE if table in declared]
    created = [table for table in declared if table not in ADOPTABLE]
    assert set(adopted) <= set(tables_before) and not set(created) & set(tables_before)
    assert all(rows_before[table] for table in rows_before if table in declared)
    # Nothing recreated, and only the kit's new tables added.
    assert {t: oid for t, oid in tables_after.items() if t not in created} == tables_before
    assert set(tables_after) == set(tables_before) | set(created)
    assert {t: rows for t, rows in rows_after.items() if t not in created} == rows_before
    assert applied == [f"kit:{file}" for file in KIT_FILES if table_of(file) in declared]
    assert again == []
    assert [(log["event"], log.get("table") or log["migration"]) for log in logs] == [
        ("migration applied", name)
        if file in LATER_INDEXES
        else ("kit table adopted" if file in ADOPTABLE else "kit table created", file)
        for name, file in ((name, name.removeprefix("kit:")) for name in applied)
    ]
    # Only the retention indexes of the declared tables added, nothing else.
    later = {index for index, table in LATER_INDEXES.items() if table in declared}
    assert later and not later & indexes_before
    assert indexes_after - indexes_before == later | {
        index for index in indexes_after if index.startswith(tuple(created))
    }
    # The service's history as it was (version 1 included, its file now gone), plus the kit's.
    assert [row for row in history_after if row[0] > 0] == history_before
    assert [row[0] for row in history_before] == [1, 2]
    assert {row[1]: row[0] for row in history_after if row[0] < 0}.keys() == set(applied)


async def catalogue(
    connection: asyncpg.Connection, schema: str
) -> dict[str, list[tuple[Any, ...]]]:
    """What a schema is made of, its name left out, for comparing two schemas."""
    queries = {
        "relations": "SELECT relname, relkind FROM pg_class WHERE relnamespace = $1::regnamespace",
        "columns": """
            SELECT table_name, ordinal_position, column_name, data_type, udt_name, is_nullable,
                   column_default, is_identity, identity_generation, numeric_precision,
                   numeric_scale
            FROM information_schema.columns WHERE table_schema = $1""",
        "constraints": """
            SELECT c.relname, k.conname, k.contype, pg_get_constraintdef(k.oid)
            FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
            WHERE k.connamespace = $1::regnamespace""",
        "indexes": "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = $1",
        "functions": """
            SELECT proname, pg_get_function_arguments(oid), pg_get_function_result(oid), prosrc
            FROM pg_proc WHERE pronamespace = $1::regnamespace""",
    }
    described = {}
    for what, query in queries.items():
        rows = await connection.fetch(query, schema)
        described[what] = sorted(
            tuple(str(value).replace(f"{schema}.", "<schema>.") for value in row.values())
            for row in rows
        )
    return described


def without(
    described: dict[str, list[tuple[Any, ...]]], tables: tuple[str, ...]
) -> dict[str, list[tuple[Any, ...]]]:
    return {
        what: [row for row in rows if not any(str(row[0]).startswith(t) for t in tables)]
        for what, rows in described.items()
    }


def without_indexes(
    described: dict[str, list[tuple[Any, ...]]], names: set[str]
) -> dict[str, list[tuple[Any, ...]]]:
    return {
        **described,
        "relations": [row for row in described["relations"] if row[0] not in names],
        "indexes": [row for row in described["indexes"] if row[1] not in names],
    }


@pytest.mark.integration
@pytest.mark.parametrize("service", SERVICES)
async def test_a_new_schema_gets_the_same_tables_as_before(
    infra: Infra,
    scratch_schema: Callable[[], Awaitable[Scratch]],
    as_frozen: Callable[[str], str],
    service: str,
) -> None:
    before, after = await scratch_schema(), await scratch_schema()
    await migrate_before(before.owner_dsn, schema=before.name, package=f"{BEFORE}.{service}")
    with capture_logs() as logs:
        await migrate(after.owner_dsn, schema=after.name, package=as_frozen(service))
    connection = await asyncpg.connect(infra.admin_dsn)  # sees both schemas' columns
    try:
        old, new = await catalogue(connection, before.name), await catalogue(connection, after.name)
    finally:
        await connection.close()

    # The kit's later tables (and their sequences, indexes, function) are new, and so are the
    # retention indexes of the tables the services had; the rest is the same.
    declared = kit_tables_of(f"retour_{service}")
    newer = tuple(t for t in declared if t not in ADOPTABLE)
    later = {index for index, table in LATER_INDEXES.items() if table in declared}
    assert later <= {name for name, _ in new["relations"]}
    assert without_indexes(without(new, newer), later) == old
    assert {log["table"] for log in logs if log["event"] == "kit table created"} == set(
        kit_tables_of(f"retour_{service}")
    )


@pytest.mark.integration
@pytest.mark.parametrize("service", SERVICES)
async def test_a_schema_migrated_before_takes_every_later_migration_keeping_its_rows(
    scratch_schema: Callable[[], Awaitable[Scratch]], service: str
) -> None:
    schema = await scratch_schema()
    package = f"retour_{service}"
    declared = kit_tables_of(package)
    connection = await filled_before(schema, service, declared)
    try:
        kept = [t for t in ADOPTABLE if t in declared]
        rows_before = {t: r for t, r in (await contents(connection)).items() if t in kept}
        service_rows = {t: len(r) for t, r in (await contents(connection)).items() if t not in kept}

        await migrate(schema.owner_dsn, schema=schema.name, package=package)

        after = await contents(connection)
    finally:
        await connection.close()

    assert {t: r for t, r in after.items() if t in kept} == rows_before
    assert {t: len(after[t]) for t in service_rows} == service_rows  # columns may be added


@pytest.mark.parametrize("service", [*SERVICES, "toy"])
def test_a_service_declares_the_kit_tables_its_definition_uses(service: str) -> None:
    declared: tuple[str, ...]
    if service == "toy":
        definition, declared = toy_service("unused"), TOY_KIT_TABLES
    else:
        definition = importlib.import_module(f"retour_{service}.main").SERVICE
        declared = kit_tables_of(definition.migrations_package)

    assert ("outbox" in declared) == definition.outbox
    assert ("inbox" in declared) == bool(definition.consumes)
