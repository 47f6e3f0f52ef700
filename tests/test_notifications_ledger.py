"""The delivery ledger's own guarantees, against the real PostgreSQL schema.

Notifications tests run in a database of their own (``isolated_notifications_dsn``): the
stack's notifications service, running during `make test`, shares the `retour` database, and
its senders would otherwise claim the tests' notifications (and its upkeep expire their rows).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import pytest

from retour_kit.db import Database
from retour_kit.migrations import migrate
from retour_notifications.adapters.pg_contacts import PgContacts, forget_contacts
from retour_notifications.adapters.pg_ledger import PgLedger
from retour_notifications.adapters.pg_queue import NEVER_REGISTERED, PgDeliveryQueue
from retour_notifications.domain.contacts import Contact
from retour_notifications.domain.delivery import Notification, Outcome, Status
from retour_notifications.domain.rules import Channel
from retour_notifications.main import MIGRATIONS_PACKAGE, SCHEMA
from retour_test_infra import Infra

pytestmark = pytest.mark.integration

TEST_DATABASE = "retour_notifications_test"
TEST_ROLE = "notifications_test"


async def isolated_notifications_dsn(infra: Infra) -> str:
    """A DSN to a database holding only the notifications schema, owned by a test role.

    Created on first use and kept (like the test topics' data); safe to call again.
    """
    admin_url = urlsplit(infra.admin_dsn)
    # Derived from the admin credentials: stable across runs, secret as they are.
    password = hashlib.sha256(f"{infra.admin_dsn}/{TEST_ROLE}".encode()).hexdigest()[:32]
    admin = await asyncpg.connect(infra.admin_dsn)
    try:
        if not await admin.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", TEST_ROLE):
            await admin.execute(f"CREATE ROLE {TEST_ROLE} LOGIN NOSUPERUSER NOCREATEDB")
        await admin.execute(f"ALTER ROLE {TEST_ROLE} PASSWORD '{password}'")
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", TEST_DATABASE):
            await admin.execute(f"CREATE DATABASE {TEST_DATABASE}")
            await admin.execute(f"REVOKE ALL ON DATABASE {TEST_DATABASE} FROM PUBLIC")
        await admin.execute(f"GRANT CONNECT ON DATABASE {TEST_DATABASE} TO {TEST_ROLE}")
    finally:
        await admin.close()
    owner = await asyncpg.connect(infra.admin_dsn, database=TEST_DATABASE)
    try:
        await owner.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA} AUTHORIZATION {TEST_ROLE}")
    finally:
        await owner.close()
    host = admin_url.netloc.rsplit("@", 1)[-1]
    return f"postgresql://{TEST_ROLE}:{password}@{host}/{TEST_DATABASE}"


@pytest.fixture(scope="module")
async def database(infra: Infra) -> AsyncIterator[Database]:
    dsn = await isolated_notifications_dsn(infra)
    await migrate(dsn, schema=SCHEMA, package=MIGRATIONS_PACKAGE)
    database = Database(dsn, schema=SCHEMA)
    await database.open(min_size=1, max_size=2)
    yield database
    await database.close()


def notification(**changes: Any) -> Notification:
    fields: dict[str, Any] = {
        "notification_id": uuid.uuid4(),
        "event_id": uuid.uuid4(),
        "event_type": "aid.granted",
        "rule": "aid_granted_sms",
        "channel": Channel.SMS,
        "recipient": "returnee:x",
        "returnee_id": uuid.uuid4(),
        "template": "aid_granted",
        "status": Status.HELD,
        "context": {"category": "cash"},
        **changes,
    }
    return Notification(**fields)


async def test_a_notification_is_recorded_once_whatever_the_redeliveries(
    database: Database,
) -> None:
    row = notification(status=Status.FAILED, context=None, last_error="no team address")
    async with database.pool.acquire() as conn:
        first = await PgLedger(conn).add([row])
        again = await PgLedger(conn).add([row, row])

    assert (first, again) == (1, 0)


async def test_the_ledger_refuses_to_keep_the_text_of_a_finished_notification(
    database: Database,
) -> None:
    row = notification(status=Status.SENT, context=None, address="+22370000000", body="Bonjour")

    async with database.pool.acquire() as conn:
        with pytest.raises(asyncpg.CheckViolationError, match="finished_rows_hold_no_personal"):
            await PgLedger(conn).add([row])


async def test_an_outcome_counts_only_for_the_claim_that_produced_it(database: Database) -> None:
    row = notification()
    async with database.pool.acquire() as conn:
        await PgLedger(conn).add([row])
    await database.pool.execute(
        "UPDATE deliveries SET status = 'sending', attempts = 2, address = '+22370000000',"
        " body = 'x', context = NULL, sending_since = now() WHERE notification_id = $1",
        row.notification_id,
    )
    queue = PgDeliveryQueue(database.pool)

    stale = await queue.settle(Outcome(row.notification_id, 1, Status.SENT))
    current = await queue.settle(Outcome(row.notification_id, 2, Status.SENT))

    assert (stale, current) == (False, True)
    finished = await database.pool.fetchrow(
        "SELECT status, address, body FROM deliveries WHERE notification_id = $1",
        row.notification_id,
    )
    assert finished is not None and tuple(finished) == ("sent", None, None)


async def test_a_notification_held_too_long_is_failed_with_its_reason(database: Database) -> None:
    row = notification()
    async with database.pool.acquire() as conn:
        await PgLedger(conn).add([row])
    await database.pool.execute(
        "UPDATE deliveries SET created_at = now() - interval '9 days' WHERE notification_id = $1",
        row.notification_id,
    )

    expired = await PgDeliveryQueue(database.pool).fail_held(timedelta(days=8))

    assert Channel.SMS in expired
    failed = await database.pool.fetchrow(
        "SELECT status, last_error, context FROM deliveries WHERE notification_id = $1",
        row.notification_id,
    )
    assert failed is not None and tuple(failed) == ("failed", NEVER_REGISTERED, None)


async def test_phone_numbers_are_forgotten_after_the_retention_period(database: Database) -> None:
    old, recent = uuid.uuid4(), uuid.uuid4()
    now = datetime.now(UTC)
    async with database.pool.acquire() as conn:
        for returnee, registered_at in ((old, now - timedelta(days=500)), (recent, now)):
            contact = Contact(returnee, "kayes", "fr", True, "+22370000001", registered_at)
            await PgContacts(conn).save_all([contact])

    await forget_contacts(database.pool, now - timedelta(days=400))

    async with database.pool.acquire() as conn:
        found = await PgContacts(conn).find([old, recent])
    assert (found[old].phone, found[old].sms_consent, found[old].language) == (None, False, "fr")
    assert found[recent].phone == "+22370000001"
