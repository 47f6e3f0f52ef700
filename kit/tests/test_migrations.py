"""The migration runner against a real PostgreSQL (superuser DSN from the infra fixture).

Each test gets a throwaway schema owned by a throwaway login role, exactly what
provisioning creates for a service, and drops both afterwards.
"""

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from structlog.testing import capture_logs

from retour_kit.cli import service_cli
from retour_kit.migrations import MigrationChecksumError, MigrationError, migrate
from retour_kit.settings import ServiceSettings

OUTBOX = "CREATE TABLE outbox (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY);"
INBOX = "CREATE TABLE inbox (event_id uuid PRIMARY KEY);"
# The inbox a service's own migration created before the kit owned it: the kit's columns.
SERVICE_INBOX = """
CREATE TABLE inbox (
    consumer     text        NOT NULL,
    event_id     uuid        NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
"""


@dataclass(frozen=True)
class ThrowawaySchema:
    name: str
    owner_dsn: str  # a role that owns this schema and nothing else


@dataclass(frozen=True)
class MigrationsPackage:
    name: str
    directory: Path

    def write(self, file_name: str, sql: str) -> None:
        (self.directory / file_name).write_text(sql)

    def declare_kit_tables(self, *tables: str) -> None:
        self.write("__init__.py", f"KIT_TABLES = {tables!r}\n")


@pytest.fixture
async def schema(admin_dsn: str) -> AsyncIterator[ThrowawaySchema]:
    name = f"kit_test_{uuid.uuid4().hex[:12]}"
    password = uuid.uuid4().hex
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f"CREATE ROLE {name} LOGIN PASSWORD '{password}'")
        await admin.execute(f"CREATE SCHEMA {name} AUTHORIZATION {name}")
        # Provisioning closes the database to PUBLIC; grant what it grants a service role.
        database = await admin.fetchval("SELECT current_database()")
        await admin.execute(f"GRANT CONNECT ON DATABASE {database} TO {name}")
        yield ThrowawaySchema(name, _dsn_with_user(admin_dsn, name, password))
    finally:
        await admin.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
        await admin.execute(f"DROP OWNED BY {name}")  # also revokes the CONNECT grant
        await admin.execute(f"DROP ROLE IF EXISTS {name}")
        await admin.close()


@pytest.fixture
def new_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[], MigrationsPackage]:
    """Makes migrations packages: two of them are one service's files in two releases."""
    monkeypatch.syspath_prepend(str(tmp_path))

    def make() -> MigrationsPackage:
        name = f"kit_test_pkg_{uuid.uuid4().hex[:12]}"
        directory = tmp_path / name / "migrations"
        directory.mkdir(parents=True)
        (tmp_path / name / "__init__.py").touch()
        (directory / "__init__.py").touch()
        return MigrationsPackage(name, directory)

    return make


@pytest.fixture
def package(new_package: Callable[[], MigrationsPackage]) -> MigrationsPackage:
    return new_package()


def _dsn_with_user(dsn: str, user: str, password: str) -> str:
    parts = urlsplit(dsn)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:{password}@{host}"))


async def tables_in(schema: ThrowawaySchema) -> set[str]:
    connection = await asyncpg.connect(schema.owner_dsn)
    try:
        rows = await connection.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = $1", schema.name
        )
    finally:
        await connection.close()
    return {row["tablename"] for row in rows}


async def inside(schema: ThrowawaySchema) -> asyncpg.Connection:
    """A connection of the schema's owner, the schema first on its search path."""
    return await asyncpg.connect(schema.owner_dsn, server_settings={"search_path": schema.name})


async def history_of(schema: ThrowawaySchema) -> dict[int, str]:
    connection = await inside(schema)
    try:
        rows = await connection.fetch("SELECT version, name FROM schema_migrations")
    finally:
        await connection.close()
    return {row["version"]: row["name"] for row in rows}


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class TestApplyingMigrations:
    async def test_applies_files_in_version_order_inside_the_schema(
        self, schema: ThrowawaySchema, package: MigrationsPackage
    ) -> None:
        package.write("0002_inbox.sql", INBOX)
        package.write("0001_outbox.sql", OUTBOX)

        applied = await migrate(schema.owner_dsn, schema=schema.name, package=package.name)

        assert applied == ["0001_outbox", "0002_inbox"]
        assert await tables_in(schema) == {"schema_migrations", "outbox", "inbox"}

    async def test_second_run_applies_only_new_files(
        self, schema: ThrowawaySchema, package: MigrationsPackage
    ) -> None:
        package.write("0001_outbox.sql", OUTBOX)
        await migrate(schema.owner_dsn, schema=schema.name, package=package.name)
        package.write("0002_inbox.sql", INBOX)

        again = await migrate(schema.owner_dsn, schema=schema.name, package=package.name)
        idle = await migrate(schema.owner_dsn, schema=schema.name, package=package.name)

        assert (again, idle) == (["0002_inbox"], [])

    async def test_a_failing_file_leaves_no_trace(
        self, schema: ThrowawaySchema, package: MigrationsPackage
    ) -> None:
        package.write("0001_outbox.sql", OUTBOX + "\nSELECT no_such_function();")

        with pytest.raises(asyncpg.UndefinedFunctionError):
            await migrate(schema.owner_dsn, schema=schema.name, package=package.name)

        assert await tables_in(schema) == {"schema_migrations"}

    async def test_leaves_a_borrowed_connection_as_it_found_it(
        self, schema: ThrowawaySchema, package: MigrationsPackage
    ) -> None:
        package.write("0001_outbox.sql", OUTBOX)
        connection = await asyncpg.connect(schema.owner_dsn)
        try:
            before = await connection.fetchval("SHOW search_path")
            await migrate(connection, schema=schema.name, package=package.name)
            after = await connection.fetchval("SHOW search_path")
        finally:
            await connection.close()

        assert after == before


class TestConcurrentStarts:
    async def test_two_instances_starting_together_apply_each_file_once(
        self, schema: ThrowawaySchema, package: MigrationsPackage
    ) -> None:
        package.write("0001_slow_outbox.sql", "SELECT pg_sleep(0.3);\n" + OUTBOX)

        first, second = await asyncio.gather(
            migrate(schema.owner_dsn, schema=schema.name, package=package.name),
            migrate(schema.owner_dsn, schema=schema.name, package=package.name),
        )

        assert sorted([first, second]) == [[], ["0001_slow_outbox"]]


class TestRefusals:
    async def test_refuses_when_an_applied_file_was_edited(
        self, schema: ThrowawaySchema, package: MigrationsPackage
    ) -> None:
        package.write("0001_outbox.sql", OUTBOX)
        await migrate(schema.owner_dsn, schema=schema.name, package=package.name)
        package.write("0001_outbox.sql", OUTBOX + "\n-- tweaked")

        with pytest.raises(MigrationChecksumError, match=r"0001_outbox .* was edited"):
            await migrate(schema.owner_dsn, schema=schema.name, package=package.name)

    async def test_accepts_an_edit_whose_header_names_the_checksum_it_replaces(
        self, schema: ThrowawaySchema, package: MigrationsPackage
    ) -> None:
        package.write("0001_outbox_and_inbox.sql", OUTBOX + "\n" + INBOX)
        await migrate(schema.owner_dsn, schema=schema.name, package=package.name)
        replaces = f"-- retour: replaces sha256 {sha256(OUTBOX + chr(10) + INBOX)}\n"
        package.write("0001_outbox_and_inbox.sql", replaces + "-- the inbox moved away\n" + OUTBOX)
        package.write("0002_more.sql", "CREATE TABLE more (id int);")

        applied = await migrate(schema.owner_dsn, schema=schema.name, package=package.name)

        assert applied == ["0002_more"]

    @pytest.mark.parametrize(
        "edited",
        [
            pytest.param(
                f"-- retour: replaces sha256 {sha256(OUTBOX + ' ')}\n{OUTBOX}\n-- tweaked",
                id="another-checksum",
            ),
            pytest.param(
                f"{OUTBOX}\n-- retour: replaces sha256 {sha256(OUTBOX)}\n-- tweaked",
                id="right-checksum-outside-the-header",
            ),
        ],
    )
    async def test_refuses_an_edit_whose_header_does_not_name_the_applied_checksum(
        self, schema: ThrowawaySchema, package: MigrationsPackage, edited: str
    ) -> None:
        package.write("0001_outbox.sql", OUTBOX)
        await migrate(schema.owner_dsn, schema=schema.name, package=package.name)
        package.write("0001_outbox.sql", edited)

        with pytest.raises(MigrationChecksumError, match=r"0001_outbox .* was edited"):
            await migrate(schema.owner_dsn, schema=schema.name, package=package.name)

    async def test_refuses_a_malformed_retour_line(
        self, schema: ThrowawaySchema, package: MigrationsPackage
    ) -> None:
        package.write("0001_outbox.sql", f"-- retour: replaces {sha256(OUTBOX)[:12]}\n{OUTBOX}")

        with pytest.raises(MigrationError, match=r"0001_outbox: .* is not `-- retour: replaces"):
            await migrate(schema.owner_dsn, schema=schema.name, package=package.name)

    async def test_refuses_misnamed_files(
        self, schema: ThrowawaySchema, package: MigrationsPackage
    ) -> None:
        package.write("1_outbox.sql", OUTBOX)

        with pytest.raises(MigrationError, match=r"NNNN_description\.sql"):
            await migrate(schema.owner_dsn, schema=schema.name, package=package.name)

    async def test_refuses_a_schema_that_was_not_provisioned(
        self, schema: ThrowawaySchema, package: MigrationsPackage
    ) -> None:
        package.write("0001_outbox.sql", OUTBOX)

        with pytest.raises(MigrationError, match="does not exist"):
            await migrate(schema.owner_dsn, schema="not_provisioned", package=package.name)


class TestKitTables:
    async def test_declared_kit_tables_come_first_recorded_under_their_own_versions(
        self, schema: ThrowawaySchema, package: MigrationsPackage
    ) -> None:
        package.declare_kit_tables("idempotency_keys", "outbox")
        package.write("0001_outbox_by_topic.sql", "CREATE INDEX outbox_by_topic ON outbox (topic);")

        with capture_logs() as logs:
            applied = await migrate(schema.owner_dsn, schema=schema.name, package=package.name)
        again = await migrate(schema.owner_dsn, schema=schema.name, package=package.name)

        assert applied == [
            "kit:outbox",
            "kit:idempotency_keys",
            "kit:idempotency_keys_by_age",  # a table's later kit files follow its first
            "0001_outbox_by_topic",
        ]
        assert again == []
        assert await tables_in(schema) == {"schema_migrations", "outbox", "idempotency_keys"}
        assert await history_of(schema) == {
            -1: "kit:outbox",
            -3: "kit:idempotency_keys",
            -6: "kit:idempotency_keys_by_age",
            1: "0001_outbox_by_topic",
        }
        assert [(log["event"], log.get("table") or log["migration"]) for log in logs] == [
            ("kit table created", "outbox"),
            ("kit table created", "idempotency_keys"),
            ("migration applied", "kit:idempotency_keys_by_age"),
            ("migration applied", "0001_outbox_by_topic"),
        ]

    async def test_a_table_the_schema_already_has_is_adopted_with_its_rows(
        self, schema: ThrowawaySchema, new_package: Callable[[], MigrationsPackage]
    ) -> None:
        before, after = new_package(), new_package()  # one service, two releases
        before.write("0001_inbox.sql", SERVICE_INBOX)
        after.declare_kit_tables("inbox")
        await migrate(schema.owner_dsn, schema=schema.name, package=before.name)
        connection = await inside(schema)
        try:
            await connection.execute(
                "INSERT INTO inbox VALUES ('c', $1), ('c', $2)", uuid.uuid4(), uuid.uuid4()
            )
            rows = await connection.fetch("SELECT * FROM inbox ORDER BY 1, 2")
            oid = await connection.fetchval("SELECT 'inbox'::regclass::oid")

            with capture_logs() as logs:
                applied = await migrate(connection, schema=schema.name, package=after.name)

            rows_after = await connection.fetch("SELECT * FROM inbox ORDER BY 1, 2")
            oid_after = await connection.fetchval("SELECT 'inbox'::regclass::oid")
        finally:
            await connection.close()

        assert applied == ["kit:inbox", "kit:inbox_by_age"]
        assert [(log["event"], log.get("table") or log["migration"]) for log in logs] == [
            ("kit table adopted", "inbox"),
            ("migration applied", "kit:inbox_by_age"),  # then changed by the kit's later file
        ]
        assert (rows_after, oid_after) == (rows, oid)  # the same table, as it was, rows and all
        assert await history_of(schema) == {
            1: "0001_inbox",
            -2: "kit:inbox",
            -5: "kit:inbox_by_age",
        }

    async def test_refuses_a_table_the_kit_does_not_have(
        self, schema: ThrowawaySchema, package: MigrationsPackage
    ) -> None:
        package.declare_kit_tables("outbox", "audit_log")

        with pytest.raises(MigrationError, match=r"KIT_TABLES names audit_log: the kit's tables"):
            await migrate(schema.owner_dsn, schema=schema.name, package=package.name)

        assert await tables_in(schema) == set()

    async def test_refuses_a_kit_table_whose_applied_checksum_differs(
        self, schema: ThrowawaySchema, package: MigrationsPackage
    ) -> None:
        package.declare_kit_tables("outbox")
        await migrate(schema.owner_dsn, schema=schema.name, package=package.name)
        connection = await inside(schema)
        try:
            await connection.execute(
                "UPDATE schema_migrations SET checksum = $1 WHERE version = -1",
                sha256("an earlier kit:outbox"),
            )
        finally:
            await connection.close()

        with pytest.raises(MigrationChecksumError, match=r"kit:outbox .* was edited"):
            await migrate(schema.owner_dsn, schema=schema.name, package=package.name)


@pytest.mark.usefixtures("isolated_logging")
class TestMigrateCommand:
    async def test_applies_migrations_and_exits(
        self,
        schema: ThrowawaySchema,
        package: MigrationsPackage,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        package.write("0001_outbox.sql", OUTBOX)
        monkeypatch.setenv("DATABASE_URL", schema.owner_dsn)
        monkeypatch.setenv("AUTH_JWT_SECRET", "s" * 32)

        # The command runs its own event loop, as it does when an operator calls it.
        await asyncio.to_thread(
            service_cli,
            settings_cls=ServiceSettings,
            build_app=lambda _settings: pytest.fail("migrate must not build the app"),
            schema_of=lambda _settings: schema.name,
            migrations_package=package.name,
            argv=["migrate"],
        )

        assert await tables_in(schema) == {"schema_migrations", "outbox"}


class TestTimeLimits:
    async def test_a_migration_may_outlast_the_statement_timeout_which_comes_back_after(
        self, schema: ThrowawaySchema, package: MigrationsPackage
    ) -> None:
        package.write("0001_slow_outbox.sql", "SELECT pg_sleep(1);\n" + OUTBOX)
        connection = await asyncpg.connect(
            schema.owner_dsn, server_settings={"statement_timeout": "300ms"}
        )
        try:
            applied = await migrate(connection, schema=schema.name, package=package.name)
            after = await connection.fetchval("SHOW statement_timeout")
            with pytest.raises(asyncpg.QueryCanceledError):
                await connection.execute("SELECT pg_sleep(1)")
        finally:
            await connection.close()

        assert applied == ["0001_slow_outbox"]
        assert after == "300ms"
