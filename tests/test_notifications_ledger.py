"""The delivery ledger's own guarantees, against the real PostgreSQL schema.

Notifications tests run in a database of their own (``isolated_notifications_dsn``): the
stack's notifications service, running during `make test`, shares the `retour` database, and
its senders would otherwise claim the tests' notifications (and its upkeep expire their rows).
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

import asyncpg
import pytest
from prometheus_client import CollectorRegistry

from retour_kit.db import Database
from retour_kit.migrations import migrate
from retour_notifications.adapters.metrics import NotificationMetrics
from retour_notifications.adapters.pg_contacts import PgContacts, forget_contacts
from retour_notifications.adapters.pg_delivery_reports import PgDeliveryReports
from retour_notifications.adapters.pg_ledger import PgLedger
from retour_notifications.adapters.pg_protection import PgProtection
from retour_notifications.adapters.pg_queue import INTERRUPTED, NEVER_REGISTERED, PgDeliveryQueue
from retour_notifications.domain.contacts import Contact
from retour_notifications.domain.delivery import Notification, Outcome, Status
from retour_notifications.domain.delivery_reports import ReportedDelivery
from retour_notifications.domain.merges import MERGED
from retour_notifications.domain.rules import Channel
from retour_notifications.entrypoints.upkeep import Upkeep
from retour_notifications.main import MIGRATIONS_PACKAGE, SCHEMA
from retour_test_infra import Infra, eventually

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

    assert (stale, current) == (None, Status.SENT)
    finished = await database.pool.fetchrow(
        "SELECT status, address, body FROM deliveries WHERE notification_id = $1",
        row.notification_id,
    )
    assert finished is not None and tuple(finished) == ("sent", None, None)


CANCELLATIONS = {
    "erasure": lambda p, r: p.forget(r, datetime.now(UTC)),
    "withdrawn consent": lambda p, r: p.change_sms_consent(r, False, datetime.now(UTC)),
    "merge": lambda p, r: p.merge(r, uuid.uuid4(), datetime.now(UTC)),
}
REASONS = {"erasure": "returnee erased", "withdrawn consent": "sms consent withdrawn"}


async def in_a_senders_hands(database: Database, cancelled_by: str | None = None) -> Notification:
    """A message a sender has claimed, then cancelled by one of CANCELLATIONS if named."""
    returnee_id = uuid.uuid4()
    row = notification(returnee_id=returnee_id, recipient=f"returnee:{returnee_id}")
    async with database.pool.acquire() as conn:
        await PgLedger(conn).add([row])
    await database.pool.execute(
        "UPDATE deliveries SET status = 'sending', attempts = 1, address = '+22370000000',"
        " body = 'x', context = NULL, sending_since = now() WHERE notification_id = $1",
        row.notification_id,
    )
    if cancelled_by is not None:
        async with database.pool.acquire() as conn, conn.transaction():
            await CANCELLATIONS[cancelled_by](PgProtection(conn), returnee_id)
    return row


async def ledger_row(database: Database, notification_id: UUID) -> tuple[Any, ...]:
    row = await database.pool.fetchrow(
        "SELECT status, last_error, address, body, context FROM deliveries"
        " WHERE notification_id = $1",
        notification_id,
    )
    assert row is not None
    return tuple(row)


async def test_an_erasure_cancels_a_message_in_a_senders_hands_for_good(
    database: Database,
) -> None:
    row = await in_a_senders_hands(database)
    async with database.pool.acquire() as conn, conn.transaction():
        cancelled = await PgProtection(conn).forget(row.returnee_id, datetime.now(UTC))
    # The gateway may have it already: neither sent nor failed, but nothing personal is kept.
    meanwhile = await ledger_row(database, row.notification_id)
    # The gateway then answers that it could not take it: the sender asks for another
    # attempt, which the cancellation refuses.
    retried = await PgDeliveryQueue(database.pool).settle(
        Outcome(row.notification_id, 1, Status.QUEUED, error="gateway unavailable")
    )

    assert cancelled == 1
    assert meanwhile == ("uncertain", "returnee erased", None, None, None)
    assert retried is Status.FAILED
    assert await ledger_row(database, row.notification_id) == (
        "failed",
        "returnee erased",
        None,
        None,
        None,
    )


@pytest.mark.parametrize("cancellation", CANCELLATIONS)
@pytest.mark.parametrize(
    ("answer", "recorded"),
    [
        (Outcome(uuid.UUID(int=0), 1, Status.SENT), ("sent", "{reason}")),
        (Outcome(uuid.UUID(int=0), 1, Status.FAILED, "refused"), ("failed", "{reason}; refused")),
        (Outcome(uuid.UUID(int=0), 1, Status.UNCERTAIN, "timeout"), ("uncertain", "{reason}")),
    ],
    ids=["taken", "refused", "unknown"],
)
async def test_the_gateways_answer_settles_a_message_cancelled_in_a_senders_hands(
    database: Database, cancellation: str, answer: Outcome, recorded: tuple[str, str]
) -> None:
    """The ledger never denies a message that reached the phone, nor invents one: what the
    gateway answered is recorded, next to why the message was cancelled."""
    row = await in_a_senders_hands(database, cancelled_by=cancellation)
    reason = REASONS.get(cancellation, MERGED)

    settled = await PgDeliveryQueue(database.pool).settle(
        replace(answer, notification_id=row.notification_id)
    )

    status, last_error = recorded
    assert settled is Status(status)
    assert await ledger_row(database, row.notification_id) == (
        status,
        last_error.format(reason=reason),
        None,
        None,
        None,
    )


async def test_only_the_claims_own_answer_settles_a_message_cancelled_in_a_senders_hands(
    database: Database,
) -> None:
    row = await in_a_senders_hands(database, cancelled_by="erasure")

    stale = await PgDeliveryQueue(database.pool).settle(
        Outcome(row.notification_id, 2, Status.SENT)
    )

    assert stale is None
    assert (await ledger_row(database, row.notification_id))[0] == "uncertain"


async def test_a_delivery_report_settles_a_message_cancelled_in_a_senders_hands(
    database: Database,
) -> None:
    row = await in_a_senders_hands(database, cancelled_by="erasure")
    async with database.pool.acquire() as conn:
        report = await PgDeliveryReports(conn).record(
            row.notification_id, ReportedDelivery.DELIVERED
        )
    # The sender's answer, later, finds nothing left to settle.
    late = await PgDeliveryQueue(database.pool).settle(Outcome(row.notification_id, 1, Status.SENT))

    assert report == (Status.UNCERTAIN, Status.SENT)
    assert late is None
    assert (await ledger_row(database, row.notification_id))[:2] == ("sent", "returnee erased")


async def test_a_message_cancelled_in_the_hands_of_a_sender_that_died_is_failed_as_interrupted(
    database: Database,
) -> None:
    row = await in_a_senders_hands(database, cancelled_by="erasure")
    await database.pool.execute(
        "UPDATE deliveries SET sending_since = now() - interval '1 hour'"
        " WHERE notification_id = $1",
        row.notification_id,
    )

    await PgDeliveryQueue(database.pool).fail_interrupted(timedelta(minutes=5))

    assert await ledger_row(database, row.notification_id) == (
        "failed",
        f"returnee erased; {INTERRUPTED}",
        None,
        None,
        None,
    )


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


async def ledger_rows(database: Database, state: dict[str, tuple[str, int]]) -> dict[str, UUID]:
    """One row per entry: name -> (status, days since it finished, or was created if unfinished).
    Unfinished rows get an old finished_at too, so only their status keeps them."""
    rows = {name: notification(status=Status.HELD) for name in state}
    async with database.pool.acquire() as conn:
        await PgLedger(conn).add(list(rows.values()))
    for name, (status, days) in state.items():
        await database.pool.execute(
            "UPDATE deliveries SET status = $2, context = NULL,"
            " address = CASE WHEN $2 IN ('queued', 'sending') THEN '+22370000009' END,"
            " body = CASE WHEN $2 IN ('queued', 'sending') THEN 'x' END,"
            " created_at = now() - make_interval(days => $3 + 1),"
            " finished_at = now() - make_interval(days => $3)"
            " WHERE notification_id = $1",
            rows[name].notification_id,
            status,
            days,
        )
    return {name: row.notification_id for name, row in rows.items()}


async def remaining(database: Database, ids: dict[str, UUID]) -> set[str]:
    found = await database.pool.fetch(
        "SELECT notification_id FROM deliveries WHERE notification_id = ANY($1::uuid[])",
        list(ids.values()),
    )
    kept = {row[0] for row in found}
    return {name for name, notification_id in ids.items() if notification_id in kept}


async def test_finished_notifications_past_the_retention_are_deleted_and_no_other(
    database: Database,
) -> None:
    ids = await ledger_rows(
        database,
        {
            **{f"sent {n}": ("sent", 91) for n in range(4)},
            **{f"failed {n}": ("failed", 200) for n in range(3)},
            "sent recently": ("sent", 89),
            "failed recently": ("failed", 1),
            "held": ("held", 300),
            "queued": ("queued", 300),
            "sending": ("sending", 300),
        },
    )

    pruned = await PgDeliveryQueue(database.pool).prune_finished(timedelta(days=90), batch_rows=2)

    assert pruned >= 7  # and any such row an earlier run of these tests left
    assert await remaining(database, ids) == {
        "sent recently",
        "failed recently",
        "held",
        "queued",
        "sending",
    }


def upkeep(database: Database, registry: CollectorRegistry, **changes: Any) -> Upkeep:
    async def forget() -> int:
        return 0

    options: dict[str, Any] = {
        "queue": PgDeliveryQueue(database.pool),
        "forget_contacts": forget,
        "metrics": NotificationMetrics.register(registry),
        "interrupted_after": timedelta(days=365),
        "held_at_most": timedelta(days=365),
        "interval_seconds": 0.05,
        "ledger_retention": timedelta(days=90),
        "prune_every_seconds": 3600,
        **changes,
    }
    return Upkeep(**options)


async def test_the_upkeep_prunes_the_ledger_at_start_then_once_per_interval(
    database: Database,
) -> None:
    first = await ledger_rows(database, {"old": ("sent", 100), "recent": ("sent", 10)})
    registry = CollectorRegistry()
    stopping = asyncio.Event()
    running = asyncio.create_task(upkeep(database, registry).run(stopping))
    try:
        left = await eventually(
            lambda: remaining(database, first),
            until=lambda names: names == {"recent"},
            within=10,
            what="the first upkeep tick's pruning",
        )
        second = await ledger_rows(database, {"old": ("failed", 100)})
        await asyncio.sleep(0.5)  # ten more ticks, none of them a pruning one
        still = await remaining(database, second)
    finally:
        stopping.set()
        async with asyncio.timeout(5):
            await running

    assert left == {"recent"}
    assert still == {"old"}
    pruned = registry.get_sample_value("notifications_ledger_pruned_total")
    assert pruned is not None and pruned >= 1


async def test_the_upkeep_counts_what_it_prunes(database: Database) -> None:
    await ledger_rows(database, {f"old {n}": ("sent", 100) for n in range(3)})
    registry = CollectorRegistry()

    pruned = await upkeep(database, registry).prune_ledger()

    assert pruned >= 3
    assert registry.get_sample_value("notifications_ledger_pruned_total") == pruned
