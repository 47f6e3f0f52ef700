"""Notifications applies returnee.merged: one person is greeted once and contacted once, as the
registration they keep, whatever the order the topics are read in, and never once erased.

Both people are registered by the running intake: the later one under the same family name and
date of birth, a weak duplicate match that intake registers with ``possible_duplicate_of`` set,
awaiting a supervisor's review. Their sealed records are produced to this module's private
topics (as in test_notifications_corrections), and the merge is produced as intake publishes it
once a supervisor decided the two are one person. SMS are read back from Kannel's fake SMS
centre, by the sender name this module's service alone uses: the stack's own notifications
service reads intake's real records too, and texts the same phones under the default sender.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import pytest
from test_end_to_end import running_services
from test_notifications_corrections import Person
from test_notifications_delivery import (
    SPECS,
    Harness,
    Record,
    database,
    erase_in_intake,
    private_harness,
    record,
    rows_of,
    service,
    unique_person,
)
from test_notifications_gateways import FAKESMSC_LOG, new_phone

from retour_contracts import RETURNEE_MERGED_V1, ReturneeMerged, build_envelope
from retour_contracts.examples import example_returnee_erased
from retour_kit.db import Database
from retour_notifications.adapters.pg_ledger import PgLedger
from retour_notifications.adapters.pg_protection import PgProtection
from retour_notifications.domain.delivery import Notification, Status
from retour_notifications.domain.merges import MERGED
from retour_notifications.domain.rules import Channel
from retour_test_infra import Infra, eventually, read_topic

pytestmark = pytest.mark.integration

# The delivery tests' fixture: the isolated notifications database, migrated.
__all__ = ["database"]

WELCOME_EN, WELCOME_FR = "Welcome to Mali.", "Bienvenue au Mali."
AID_EN = "You have been granted a business start-up grant of 350 000 FCFA"


@pytest.fixture(scope="module")
async def harness(infra: Infra) -> AsyncIterator[Harness]:
    """Private copies of every topic notifications reads, returnee.merged included."""
    assert "returnee.merged" in SPECS
    async with private_harness(infra, "merges") as harness:
        yield harness


# "Got message 7: <SENDER +22376543210 text Bonjour>": one-part GSM-7 texts, which every
# message of these tests is.
_RECEIVED = re.compile(r"Got message \d+: <(?P<sender>\S+) (?P<to>\S+) text (?P<text>.*)>$")


class SmsFrom:
    """The SMS the fake SMS centre received from one sender name since this probe was made."""

    def __init__(self) -> None:
        self.sender = f"M{uuid.uuid4().hex[:7].upper()}"
        self._offset = FAKESMSC_LOG.stat().st_size

    def to(self, phone: str) -> list[str]:
        with FAKESMSC_LOG.open("rb") as log:
            log.seek(self._offset)
            lines = log.read().decode("utf-8", "replace").splitlines()
        found = (_RECEIVED.search(line) for line in lines)
        return [m["text"] for m in found if m and m["sender"] == self.sender and m["to"] == phone]

    async def texts(self, phone: str, count: int) -> list[str]:
        return await eventually(
            lambda: self.to(phone),
            until=lambda got: len(got) >= count,
            within=15,
            what=f"{count} SMS to {phone}",
        )


def settings(harness: Harness, sms: SmsFrom, **changes: Any) -> dict[str, Any]:
    return harness.settings(intake_url=running_services().intake, sms_sender=sms.sender, **changes)


@dataclass
class Pair:
    """Two registrations of one person by the running intake: ``kept``, then ``later``, a weak
    duplicate match of it (same family name and date of birth, another given name and
    phone), flagged and awaiting a review."""

    kept: Person
    later: Person
    kept_phone: str
    later_phone: str

    @classmethod
    async def register(cls, infra: Infra, *, kept_language: str = "en") -> Pair:
        family, born = f"Sel{uuid.uuid4().hex[:10]}", date(1991, 3, 14).isoformat()
        phones = new_phone(), new_phone()
        people = []
        for phone, language in zip(phones, (kept_language, "fr"), strict=True):
            body = unique_person(phone)
            personal = {**body["personal"], "family_name": family, "date_of_birth": born}
            people.append(
                await Person.register(
                    infra,
                    phone,
                    personal=personal,
                    age_estimate=None,
                    preferred_language=language,
                )
            )
        kept, later = people
        facts = json.loads(later.registration.envelope.value)
        assert facts["possible_duplicate_of"] == [str(kept.id)], "intake did not flag it"
        assert facts["duplicate_confirmed_by"] is None
        return cls(kept, later, *phones)

    def merged(self, *, event_id: str | None = None) -> Record:
        """returnee.merged as intake publishes it once a supervisor decided."""
        event = ReturneeMerged(
            returnee_id=self.later.id,
            merged_into=self.kept.id,
            merged_at=datetime.now(UTC),
            merged_by="supervisor.kayes.1",
        )
        envelope = build_envelope(RETURNEE_MERGED_V1, event, source="/intake", event_id=event_id)
        return Record(RETURNEE_MERGED_V1.topic, envelope)


async def rows_by_rule(
    database: Database, returnee_ids: Sequence[UUID]
) -> dict[tuple[UUID, str], asyncpg.Record]:
    return {(r["returnee_id"], r["rule"]): r for r in await rows_of(database, returnee_ids)}


async def until_rows(
    database: Database, pair: Pair, expected: dict[tuple[UUID, str], str], what: str
) -> dict[tuple[UUID, str], asyncpg.Record]:
    """Waits until the pair's rows are exactly ``expected`` (returnee, rule) -> status."""
    ids = [pair.kept.id, pair.later.id]
    found: dict[tuple[UUID, str], asyncpg.Record] = await eventually(
        lambda: rows_by_rule(database, ids),
        until=lambda rows: {k: r["status"] for k, r in rows.items()} == expected,
        within=20,
        what=what,
    )
    return found


async def contact_phone(database: Database, returnee_id: UUID) -> str | None:
    phone: str | None = await database.pool.fetchval(
        "SELECT phone FROM contacts WHERE returnee_id = $1", returnee_id
    )
    return phone


async def merged_into(database: Database, returnee_id: UUID) -> UUID | None:
    kept: UUID | None = await database.pool.fetchval(
        "SELECT merged_into FROM merged_returnees WHERE returnee_id = $1", returnee_id
    )
    return kept


async def test_a_merge_within_the_hold_leaves_one_greeting_and_later_aid_goes_to_the_kept_phone(
    harness: Harness, database: Database
) -> None:
    """The acceptance: A and B, B flagged as a possible duplicate of A, merged into A while
    its greeting waits (DUPLICATE_HOLD_HOURS at its default, 24): one welcome in all, to A;
    an aid granted to B afterwards reaches A's phone, in A's language."""
    sms = SmsFrom()
    pair = await Pair.register(harness.infra, kept_language="en")
    a, b = pair.kept.id, pair.later.id

    async with service(harness, settings(harness, sms)):
        await harness.publish([pair.kept.registration, pair.later.registration])
        rows = await until_rows(
            database,
            pair,
            {(a, "welcome_sms"): "sent", (b, "welcome_sms"): "queued"},
            "A greeted, B's greeting waiting for the review",
        )
        waiting = rows[(b, "welcome_sms")]
        assert waiting["next_attempt_at"] - waiting["created_at"] >= timedelta(hours=24)
        assert waiting["attempts"] == 0

        await harness.publish([pair.merged()])
        await until_rows(
            database,
            pair,
            {(a, "welcome_sms"): "sent", (b, "welcome_sms"): "failed"},
            "B's greeting cancelled by the merge",
        )
        await harness.publish([pair.later.aid()])
        rows = await until_rows(
            database,
            pair,
            {
                (a, "welcome_sms"): "sent",
                (b, "welcome_sms"): "failed",
                (a, "aid_granted_sms"): "sent",
            },
            "B's aid sent to A",
        )
        texts = await sms.texts(pair.kept_phone, 2)

    assert len(texts) == 2, texts
    assert sum(WELCOME_EN in t or WELCOME_FR in t for t in texts) == 1, texts
    assert any(t.startswith(AID_EN) and f"Case {a.hex[:8].upper()}." in t for t in texts), texts
    assert sms.to(pair.later_phone) == []
    cancelled = rows[(b, "welcome_sms")]
    assert (cancelled["last_error"], cancelled["address"], cancelled["body"]) == (
        MERGED,
        None,
        None,
    )
    aid = rows[(a, "aid_granted_sms")]
    assert (aid["recipient"], aid["language"]) == (f"returnee:{a}", "en")
    assert await contact_phone(database, b) is None  # never contacted as B again
    assert await contact_phone(database, a) == pair.kept_phone


async def test_a_merge_read_first_and_again_later_leaves_the_same_one_person(
    harness: Harness, database: Database
) -> None:
    """The merge overtakes both registrations and the aid (topics are read independently),
    and comes again (a redelivery, and a replay under another event id): B is never greeted,
    its aid waits for A's registration, and nothing is dead-lettered."""
    sms = SmsFrom()
    pair = await Pair.register(harness.infra, kept_language="en")
    a, b = pair.kept.id, pair.later.id
    merge = pair.merged()
    config = settings(harness, sms)

    async with service(harness, config):
        await harness.publish([merge, merge])
        await eventually(lambda: merged_into(database, b), what="the merge recorded")
        await harness.publish([pair.later.aid()])
        await until_rows(database, pair, {(a, "aid_granted_sms"): "held"}, "B's aid held for A")
        await harness.publish([pair.later.registration])
        await eventually(
            lambda: contact_phone(database, b),
            until=lambda phone: phone is None,
            what="B's registration read",
        )
        await harness.publish([pair.kept.registration, pair.merged(event_id=str(uuid.uuid4()))])
        await until_rows(
            database,
            pair,
            {(a, "welcome_sms"): "sent", (a, "aid_granted_sms"): "sent"},
            "A greeted and told of B's aid",
        )
        texts = await sms.texts(pair.kept_phone, 2)
        await eventually(lambda: harness.caught_up(config["consumer_group"]), what="all read")

    assert len(texts) == 2 and any(t.startswith(AID_EN) for t in texts), texts
    assert sms.to(pair.later_phone) == []
    assert await rows_of(database, [b]) == []  # nothing was ever recorded for B as B
    assert await contact_phone(database, b) is None
    assert await merged_into(database, b) == a
    dead = await read_topic(
        harness.infra.kafka_bootstrap, f"{harness.topics['returnee.merged']}.dlq", 0, within=1
    )
    assert [r for r in dead if r.key == str(b).encode()] == []


async def test_without_a_hold_a_flagged_registration_is_greeted_at_once(
    harness: Harness, database: Database
) -> None:
    """DUPLICATE_HOLD_HOURS=0: exactly as before the hold existed."""
    sms = SmsFrom()
    pair = await Pair.register(harness.infra)
    b = pair.later.id

    async with service(harness, settings(harness, sms, duplicate_hold_hours=0)):
        await harness.publish([pair.later.registration])
        rows = await until_rows(database, pair, {(b, "welcome_sms"): "sent"}, "B greeted")
        [text] = await sms.texts(pair.later_phone, 1)

    assert text.startswith(WELCOME_FR)
    welcome = rows[(b, "welcome_sms")]
    assert welcome["next_attempt_at"] == welcome["created_at"]  # due when recorded


async def test_a_hold_that_ends_without_a_merge_greets_as_usual(
    harness: Harness, database: Database
) -> None:
    sms = SmsFrom()
    pair = await Pair.register(harness.infra)
    b = pair.later.id
    hold = timedelta(seconds=2)

    config = settings(harness, sms, duplicate_hold_hours=hold.total_seconds() / 3600)
    async with service(harness, config):
        await harness.publish([pair.later.registration])
        rows = await until_rows(database, pair, {(b, "welcome_sms"): "sent"}, "B greeted")
        [text] = await sms.texts(pair.later_phone, 1)

    assert text.startswith(WELCOME_FR)
    welcome = rows[(b, "welcome_sms")]
    assert welcome["next_attempt_at"] - welcome["created_at"] >= hold
    assert welcome["sent_at"] >= welcome["next_attempt_at"]  # not sent before the hold ended


async def test_an_erasure_of_the_kept_registration_wins_over_the_merge(
    harness: Harness, database: Database
) -> None:
    sms = SmsFrom()
    pair = await Pair.register(harness.infra)
    a, b = pair.kept.id, pair.later.id
    config = settings(harness, sms)

    async with service(harness, config):
        await harness.publish([pair.kept.registration, pair.later.registration])
        await until_rows(
            database,
            pair,
            {(a, "welcome_sms"): "sent", (b, "welcome_sms"): "queued"},
            "A greeted, B's greeting waiting for the review",
        )
        await harness.publish([pair.merged()])
        await until_rows(
            database,
            pair,
            {(a, "welcome_sms"): "sent", (b, "welcome_sms"): "failed"},
            "B's greeting cancelled",
        )
        await erase_in_intake(harness.infra, a)
        erased = example_returnee_erased(returnee_id=a, erased_at=datetime.now(UTC))
        await harness.publish([record(erased)])
        await eventually(
            lambda: contact_phone(database, a),
            until=lambda phone: phone is None,
            what="A forgotten",
        )
        # Read after the erasure: B's aid, and the merge again (a replay).
        await harness.publish([pair.later.aid(), pair.merged()])
        await eventually(lambda: harness.caught_up(config["consumer_group"]), what="all read")

    rows = await rows_by_rule(database, [a, b])
    assert {k: r["status"] for k, r in rows.items()} == {
        (a, "welcome_sms"): "sent",
        (b, "welcome_sms"): "failed",
    }  # no aid row: an erased person is never contacted, under either registration
    assert await contact_phone(database, a) is None
    assert len(await sms.texts(pair.kept_phone, 1)) == 1
    assert sms.to(pair.later_phone) == []


async def test_the_adapter_follows_chains_and_cancels_only_what_goes_to_the_merged_person(
    database: Database,
) -> None:
    """The SQL of pg_protection: latest decision per registration, chains, cycles, and which
    rows a merge cancels or hands back to be moved."""
    a, b, x, c, p, q = (uuid.uuid4() for _ in range(6))
    held, queued, team = (
        notification(b, Status.HELD),
        notification(b, Status.QUEUED),
        notification(b, Status.QUEUED, team=True),
    )
    now = datetime.now(UTC)
    async with database.pool.acquire() as conn, conn.transaction():
        await PgLedger(conn).add([held, queued, team])
        protection = PgProtection(conn)
        assert await protection.merge(x, b, now - timedelta(days=2)) == []
        assert await protection.merge(x, c, now - timedelta(days=3)) == []  # older: ignored
        handed_back = await protection.merge(b, a, now)
        await protection.merge(c, x, now)  # c, then x, then b: all into a
        # A cycle (intake never publishes one) must end, not loop.
        await protection.merge(p, q, now)
        await protection.merge(q, p, now)
        refusals = await protection.refusals([x, b, a, c, p])

    assert [n.notification_id for n in handed_back] == [held.notification_id]
    assert handed_back[0].context == held.context  # as it was, to be recorded again
    assert refusals.merged == {x: a, b: a, c: a, p: q}
    statuses = {
        r["notification_id"]: (r["status"], r["last_error"])
        for r in await database.pool.fetch(
            "SELECT notification_id, status, last_error FROM deliveries WHERE returnee_id = $1", b
        )
    }
    assert statuses == {
        held.notification_id: ("failed", MERGED),
        queued.notification_id: ("failed", MERGED),
        team.notification_id: ("queued", None),  # a centre team is told as before
    }


def notification(returnee_id: UUID, status: Status, *, team: bool = False) -> Notification:
    held = status is Status.HELD
    return Notification(
        notification_id=uuid.uuid4(),
        event_id=uuid.uuid4(),
        event_type="returnee.registered" if team else "aid.granted",
        rule="vulnerable_arrival_email" if team else "aid_granted_sms",
        channel=Channel.EMAIL if team else Channel.SMS,
        recipient="centre_team:kayes" if team else f"returnee:{returnee_id}",
        returnee_id=returnee_id,
        template="vulnerable_arrival" if team else "aid_granted",
        status=status,
        language=None if held else "fr",
        address=None if held else ("equipe@example.org" if team else new_phone()),
        body=None if held else "Bonjour",
        context={"category": "cash", "reference": "X"} if held else None,
    )
