"""Every connection carries its limits: timeouts, server-side TCP keepalives and user timeout,
and for the relay's session, an idle-session timeout and a TCP user timeout of its lease that
end the session of a client gone silent, even one the server was writing to."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import textwrap

import asyncpg
import pytest

from retour_kit.db import DatabaseLimits, connect, create_pool
from retour_kit.outbox import RelaySettings
from retour_kit.runtime import outbox_transactional_id
from retour_test_infra import eventually

pytestmark = pytest.mark.integration

SHOWN = (
    "statement_timeout",
    "idle_in_transaction_session_timeout",
    "idle_session_timeout",
    "tcp_keepalives_idle",
    "tcp_keepalives_interval",
    "tcp_keepalives_count",
    "tcp_user_timeout",
    "jit",
)


async def test_pooled_connections_carry_timeouts_and_keepalives(admin_dsn: str) -> None:
    pool = await create_pool(admin_dsn, limits=DatabaseLimits(statement_timeout_seconds=7))
    try:
        row = await pool.fetchrow(f"SELECT {', '.join(f'current_setting($${n}$$)' for n in SHOWN)}")
    finally:
        await pool.close()
    assert row is not None
    assert dict(zip(SHOWN, row, strict=True)) == {
        "statement_timeout": "7s",
        "idle_in_transaction_session_timeout": "1min",
        "idle_session_timeout": "0",  # a pooled connection may sit idle in its pool
        "tcp_keepalives_idle": "30",
        "tcp_keepalives_interval": "10",
        "tcp_keepalives_count": "3",
        "tcp_user_timeout": "60000",  # milliseconds
        "jit": "off",
    }


async def test_a_dedicated_session_gone_silent_is_ended_by_the_server(admin_dsn: str) -> None:
    relay = RelaySettings.for_lease(2, kafka_give_up_seconds=1)
    limits = relay.session_limits(DatabaseLimits())
    connection = await connect(admin_dsn, limits=limits, application_name="retour-test-silent")
    try:
        shown = await connection.fetchrow(
            "SELECT current_setting('idle_session_timeout') AS idle,"
            " current_setting('idle_in_transaction_session_timeout') AS in_transaction,"
            " current_setting('tcp_keepalives_idle') AS keepalive,"
            " current_setting('tcp_user_timeout') AS unacknowledged,"
            " current_setting('application_name') AS name"
        )
        assert shown is not None
        assert dict(shown) == {
            "idle": "2s",
            "in_transaction": "2s",
            "keepalive": "30",
            "unacknowledged": "2000",
            "name": "retour-test-silent",
        }
        # Silent past its lease (as a frozen process is), the session is ended server-side:
        # with it go its locks, whatever the client's kernel still answers.
        await eventually(connection.is_closed, within=15, what="the silent session ended")
    finally:
        connection.terminate()


# A client that asks for a large result, then freezes before reading it: the server fills the
# socket and blocks in the write, where neither idle nor statement timeouts reach it.
FROZEN_READER = textwrap.dedent(
    """
    import asyncio, json, os, signal, sys
    from retour_kit.db import DatabaseLimits, connect
    from retour_kit.outbox import RelaySettings

    async def main(dsn):
        limits = RelaySettings.for_lease(2, kafka_give_up_seconds=1).session_limits(
            DatabaseLimits()
        )
        connection = await connect(dsn, limits=limits, application_name="retour-test-frozen")
        asyncio.ensure_future(connection.fetchval("SELECT repeat('x', 200000000)"))
        await asyncio.sleep(0.5)
        os.kill(os.getpid(), signal.SIGSTOP)

    asyncio.run(main(json.loads(sys.argv[1])))
    """
)


async def test_a_session_frozen_while_the_server_writes_to_it_is_ended_within_its_lease(
    admin_dsn: str,
) -> None:
    frozen = await asyncio.create_subprocess_exec(
        sys.executable, "-c", FROZEN_READER, json.dumps(admin_dsn)
    )
    observer = await asyncpg.connect(admin_dsn)

    async def backend_state() -> str | None:
        state: str | None = await observer.fetchval(
            "SELECT coalesce(wait_event, state) FROM pg_stat_activity"
            " WHERE application_name = 'retour-test-frozen'"
        )
        return state

    try:
        await eventually(
            backend_state,
            until=lambda state: state == "ClientWrite",
            within=60,
            what="the server blocked writing to the frozen client",
        )
        assert frozen.returncode is None  # stopped, not dead: its kernel still acknowledges
        await eventually(
            backend_state,
            until=lambda state: state is None,
            within=20,
            what="the blocked session ended",
        )
    finally:
        frozen.send_signal(signal.SIGCONT)  # a stopped process cannot die of SIGKILL yet
        frozen.kill()
        await frozen.wait()
        await observer.close()


def test_relay_settings_keep_the_session_alive_within_its_lease() -> None:
    with pytest.raises(ValueError, match="publish_timeout"):
        RelaySettings(lease_seconds=5, publish_timeout=5)
    with pytest.raises(ValueError, match="poll_interval"):
        RelaySettings(lease_seconds=5, poll_interval=2, publish_timeout=3)


def test_each_service_outbox_has_one_transactional_id_under_the_service_prefix() -> None:
    assert outbox_transactional_id("retour-intake", "intake", "intake") == "retour-intake-outbox"
    assert (
        outbox_transactional_id("retour-intake", "intake_sandbox", "intake")
        == "retour-intake-outbox.intake_sandbox"
    )
