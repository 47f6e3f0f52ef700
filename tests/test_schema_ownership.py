"""Each service's login role can use only its own schema (issue 2, database ownership)."""

from __future__ import annotations

import asyncpg
import pytest

from retour_kit.migrations import migrate
from retour_test_infra import Infra

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def migrated(infra: Infra) -> None:
    for service in ("intake", "reporting"):
        await migrate(infra.dsn(service), schema=service, package=f"retour_{service}")


async def _denied(dsn: str, sql: str) -> str:
    conn = await asyncpg.connect(dsn)
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError) as denied:
            await conn.fetch(sql)
        return str(denied.value)
    finally:
        await conn.close()


async def test_intake_cannot_read_a_reporting_table(infra: Infra, migrated: None) -> None:
    message = await _denied(infra.dsn("intake"), "SELECT * FROM reporting.inbox")
    assert "permission denied" in message


async def test_reporting_cannot_read_an_intake_table(infra: Infra, migrated: None) -> None:
    message = await _denied(infra.dsn("reporting"), "SELECT * FROM intake.outbox")
    assert "permission denied" in message


async def test_a_service_role_has_no_rights_on_public(infra: Infra) -> None:
    message = await _denied(infra.dsn("intake"), "CREATE TABLE public.sneaky (x int)")
    assert "permission denied" in message


async def test_a_service_role_works_in_its_own_schema(infra: Infra, migrated: None) -> None:
    conn = await asyncpg.connect(infra.dsn("reporting"))
    try:
        assert await conn.fetchval("SELECT current_schema()") == "reporting"
        assert await conn.fetchval("SELECT count(*) FROM inbox") >= 0
        assert await conn.fetchval("SELECT count(*) FROM schema_migrations") >= 1
    finally:
        await conn.close()


@pytest.mark.parametrize("service", ["intake", "reintegration", "notifications", "reporting"])
async def test_every_session_of_a_service_role_has_time_limits(infra: Infra, service: str) -> None:
    """Even a session the services did not open (an operator's psql as the role)."""
    conn = await asyncpg.connect(infra.dsn(service))
    try:
        limits = await conn.fetchrow(
            "SELECT current_setting('statement_timeout') AS statement,"
            " current_setting('idle_in_transaction_session_timeout') AS idle"
        )
    finally:
        await conn.close()

    assert limits is not None
    assert (limits["statement"], limits["idle"]) == ("30s", "2min")


async def test_the_shared_extensions_are_used_by_intake_alone_and_written_by_nobody(
    infra: Infra,
) -> None:
    conn = await asyncpg.connect(infra.dsn("intake"))
    try:
        assert await conn.fetchval("SELECT extensions.similarity('traore', 'taore')") > 0.3
    finally:
        await conn.close()
    created = await _denied(infra.dsn("intake"), "CREATE TABLE extensions.sneaky (x int)")
    used = await _denied(infra.dsn("reporting"), "SELECT extensions.similarity('a', 'b')")
    assert "permission denied" in created and "permission denied" in used
