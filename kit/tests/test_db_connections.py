"""Every connection carries its limits: timeouts, server-side TCP keepalives, and for the
relay's session, an idle-session timeout that ends the session of a client gone silent."""

from __future__ import annotations

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
            " current_setting('application_name') AS name"
        )
        assert shown is not None
        assert dict(shown) == {
            "idle": "2s",
            "in_transaction": "2s",
            "keepalive": "30",
            "name": "retour-test-silent",
        }
        # Silent past its lease (as a frozen process is), the session is ended server-side:
        # with it go its locks, whatever the client's kernel still answers.
        await eventually(connection.is_closed, within=15, what="the silent session ended")
    finally:
        connection.terminate()


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
