"""Database ownership: one schema and one login role per service, nothing shared.

An administrator (or `make up` locally, or the migration Job in Kubernetes) runs this once with
a superuser DSN. Each service then connects with its own role, which owns its schema and has no
rights on `public` nor on any other service's schema, so a bug or a stolen credential in one
service cannot read another service's data. Migrations run later as the service role itself.

    INTAKE_DB_PASSWORD=... REPORTING_DB_PASSWORD=... python -m retour_kit.provision intake reporting
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
from collections.abc import Mapping

import asyncpg

SERVICES = ("intake", "reintegration", "notifications", "reporting")
_IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
# Two `make up` or two migration Jobs may provision at once; CREATE ROLE is not idempotent.
_PROVISION_LOCK_KEY = 0x7265746F7572  # "retour"
# Defaults of every session of a service role, a safety net under the limits the services set
# per connection (retour_kit.db.DatabaseLimits): a session the kit did not open (the outbox
# relay's own, an operator's psql as the role) still cannot run a statement, or sit in an
# open transaction, forever. Migrations lift the statement limit for their own run.
ROLE_DEFAULTS = {"statement_timeout": "30s", "idle_in_transaction_session_timeout": "2min"}
# Extensions a service's migrations use. Creating one is an administrator's right; they live
# in one schema of their own, `extensions`, which the services that need them may use, and
# their objects are always named with it (extensions.gin_trgm_ops), whatever the search_path:
# a service's migrations also run in throwaway schemas (tests, benchmarks). pg_trgm ships with
# PostgreSQL (contrib) and with every managed PostgreSQL.
EXTENSIONS_SCHEMA = "extensions"
SERVICE_EXTENSIONS = {"intake": ("pg_trgm",)}


def _identifier(name: str) -> str:
    if not _IDENTIFIER.match(name):
        raise ValueError(f"invalid SQL identifier {name!r}: use lower-case letters, digits, _")
    return name


async def ensure_database(admin_dsn: str, database: str) -> None:
    """Create the database if missing and close it to everyone but explicit grantees."""
    db = _identifier(database)
    conn = await asyncpg.connect(admin_dsn)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", db)
        if not exists:
            await conn.execute(f"CREATE DATABASE {db}")
    finally:
        await conn.close()


async def provision_service(
    conn: asyncpg.Connection, *, database: str, service: str, password: str
) -> None:
    """Create or update the service's login role and schema; safe to run again."""
    role = _identifier(service)
    db = _identifier(database)
    literal = await conn.fetchval("SELECT quote_literal($1)", password)
    if not await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role):
        await conn.execute(f"CREATE ROLE {role} LOGIN")
    # Managed Postgres (RDS, Cloud SQL, Azure) gives no superuser: its admin role may not touch
    # the SUPERUSER attribute, and must be a member of a role to give it a schema.
    is_superuser = await conn.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
    attributes = (
        "NOSUPERUSER NOCREATEDB NOCREATEROLE" if is_superuser else "NOCREATEDB NOCREATEROLE"
    )
    await conn.execute(f"ALTER ROLE {role} WITH LOGIN {attributes} NOINHERIT PASSWORD {literal}")
    if not is_superuser:
        await conn.execute(f"GRANT {role} TO current_user")
    await conn.execute(f"GRANT CONNECT ON DATABASE {db} TO {role}")
    await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {role} AUTHORIZATION {role}")
    await conn.execute(f"ALTER SCHEMA {role} OWNER TO {role}")
    await conn.execute(f"REVOKE ALL ON SCHEMA {role} FROM PUBLIC")
    await conn.execute(f"ALTER ROLE {role} IN DATABASE {db} SET search_path = {role}")
    extensions = SERVICE_EXTENSIONS.get(role, ())
    if extensions:
        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {EXTENSIONS_SCHEMA}")
        await conn.execute(f"GRANT USAGE ON SCHEMA {EXTENSIONS_SCHEMA} TO {role}")
    for extension in extensions:
        await _extension_in_its_schema(conn, extension)
    for parameter, value in ROLE_DEFAULTS.items():
        await conn.execute(f"ALTER ROLE {role} IN DATABASE {db} SET {parameter} = '{value}'")


async def _extension_in_its_schema(conn: asyncpg.Connection, extension: str) -> None:
    """The extension, in `extensions`: created there, or moved there when an earlier install
    (a managed database's default, an operator's) put it elsewhere, where the service role,
    which has no rights on `public`, could not reach it."""
    name = _identifier(extension)
    found = await conn.fetchval(
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace"
        " WHERE e.extname = $1",
        name,
    )
    if found is None:
        await conn.execute(f"CREATE EXTENSION {name} WITH SCHEMA {EXTENSIONS_SCHEMA}")
    elif found != EXTENSIONS_SCHEMA:
        await conn.execute(f"ALTER EXTENSION {name} SET SCHEMA {EXTENSIONS_SCHEMA}")


async def provision(admin_dsn: str, *, database: str, passwords: Mapping[str, str]) -> None:
    await ensure_database(admin_dsn, database)
    conn = await asyncpg.connect(admin_dsn, database=database)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", _PROVISION_LOCK_KEY)
        try:
            db = _identifier(database)
            # PostgreSQL grants CONNECT, TEMP and use of `public` to every role by default.
            await conn.execute(f"REVOKE ALL ON DATABASE {db} FROM PUBLIC")
            await conn.execute("REVOKE ALL ON SCHEMA public FROM PUBLIC")
            for service, password in passwords.items():
                await provision_service(conn, database=database, service=service, password=password)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _PROVISION_LOCK_KEY)
    finally:
        await conn.close()


def _parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m retour_kit.provision", description=__doc__)
    parser.add_argument(
        "--admin-dsn",
        default=os.environ.get("RETOUR_PG_ADMIN_DSN"),
        help="superuser DSN (default: $RETOUR_PG_ADMIN_DSN)",
    )
    parser.add_argument("--database", default=os.environ.get("RETOUR_PG_DATABASE", "retour"))
    parser.add_argument(
        "services",
        nargs="*",
        default=list(SERVICES),
        help="services to provision (default: all); each password is read from"
        " <SERVICE>_DB_PASSWORD, never from the command line, where `ps` would show it",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(sys.argv[1:] if argv is None else argv)
    if not args.admin_dsn:
        sys.stderr.write("provision: RETOUR_PG_ADMIN_DSN (or --admin-dsn) is required" + "\n")
        return 2
    passwords: dict[str, str] = {}
    for service in args.services:
        variable = f"{service.upper()}_DB_PASSWORD"
        if service not in SERVICES or not os.environ.get(variable):
            sys.stderr.write(f"provision: {variable} must be set (services: {SERVICES})\n")
            return 2
        passwords[service] = os.environ[variable]
    asyncio.run(provision(args.admin_dsn, database=args.database, passwords=passwords))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
