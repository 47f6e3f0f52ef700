"""Merges (returnee.merged) and the greeting that waits for a duplicate review: one person is
greeted once and contacted once, as the registration they keep, whatever the order of events.

The use cases run against an in-memory model of the schema that follows the Postgres adapters'
rules (pg_contacts, pg_ledger, pg_protection): tests/retour_notifications_memory.py's, with
merges, plus a sender that sends what is due at a given time;
tests/test_notifications_merges.py runs the real ones through Kafka and Kannel.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from retour_contracts import (
    ActivityLaunched,
    AidGranted,
    ConsentChanged,
    PersonalData,
    ReturneeErased,
    ReturneeMerged,
    ReturneeRegistered,
)
from retour_contracts.examples import (
    example_activity_launched,
    example_aid_granted,
    example_returnee_erased,
    example_returnee_merged,
    example_returnee_registered,
    example_returnee_updated,
)
from retour_notifications.domain.contacts import Refusals
from retour_notifications.domain.corrections import OpenedUpdate
from retour_notifications.domain.delivery import Notification, Status
from retour_notifications.domain.merges import (
    MERGED,
    awaits_duplicate_review,
    resolve_merges,
)
from retour_notifications.domain.rules import Channel
from retour_notifications.usecases.forget import Consumed, record_events
from retour_notifications_memory import MemorySchema, packaged_recording

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
HOLD = timedelta(hours=24)
AFTER_THE_HOLD = NOW + HOLD + timedelta(minutes=1)
PHONE_A, PHONE_B, PHONE_C = "+22365012345", "+22376012345", "+22370112233"
TEAM = "equipe.bamako@example.org"


@dataclass(frozen=True)
class Sent:
    address: str
    rule: str
    language: str | None
    body: str


class Memory(MemorySchema):
    """The schema in memory, with merges (pg_protection.py), and a sender."""

    def __init__(self, hold: timedelta = HOLD) -> None:
        super().__init__()
        self.recording = packaged_recording({"bamako": TEAM}, hold=hold)
        self.merges: dict[UUID, tuple[UUID, datetime]] = {}
        self.sent: list[Sent] = []

    async def change_sms_consent(
        self, returnee_id: UUID, sms_contact: bool, changed_at: datetime
    ) -> int:
        raise AssertionError("consent changes are tested in test_corrections.py")

    async def merge(self, returnee_id: UUID, into: UUID, merged_at: datetime) -> list[Notification]:
        known = self.merges.get(returnee_id)
        if known is None or known[1] < merged_at:
            self.merges[returnee_id] = (into, merged_at)
        if returnee_id in self.contacts:
            self.contacts[returnee_id] = replace(self.contacts[returnee_id], phone=None)
        if returnee_id in self.waiting:
            self.waiting[returnee_id] = self.waiting[returnee_id].without_phone()
        waiting = [
            r
            for r in self.rows.values()
            if r.recipient == f"returnee:{returnee_id}"
            and r.returnee_id == returnee_id
            and r.status in (Status.HELD, Status.QUEUED, Status.SENDING)
        ]
        for row in waiting:
            self._cancel(row, MERGED)
        return [row for row in waiting if row.status is Status.HELD]

    async def refusals(self, returnee_ids: Collection[UUID]) -> Refusals:
        merged = resolve_merges({b: a for b, (a, _) in self.merges.items()}, returnee_ids)
        every = set(returnee_ids) | set(merged.values())
        return Refusals(
            forgotten=frozenset(self.forgotten & every),
            sms_changes={r: self.sms_changes[r] for r in every if r in self.sms_changes},
            merged=merged,
        )

    # The senders (pg_queue.py): what is queued and due at ``at`` goes out.
    def send_due(self, at: datetime) -> None:
        for row in list(self.rows.values()):
            due = row.not_before is None or row.not_before <= at
            if row.status is Status.QUEUED and due and row.channel is Channel.SMS:
                assert row.address is not None and row.body is not None
                self.sent.append(Sent(row.address, row.rule, row.language, row.body))
                self.rows[row.notification_id] = replace(
                    row, status=Status.SENT, address=None, body=None
                )

    # What a test looks at
    def rows_of(self, rule: str) -> list[Notification]:
        return [r for r in self.rows.values() if r.rule == rule]

    def sent_to(self, phone: str) -> list[tuple[str, str | None]]:
        return sorted((s.rule, s.language) for s in self.sent if s.address == phone)

    async def consume(self, *events: Incoming, batch: bool = False) -> None:
        """``events`` in order, one batch each (or all in one batch); the senders run in
        between, at NOW, as they would while the events come."""
        consumed = [Consumed(event, uuid4(), NOW) for event in events]
        for part in [consumed] if batch else [[c] for c in consumed]:
            await record_events(
                part,
                ledger=self,
                contacts=self,
                forgetting=self,
                follow_ups=self,
                recording=self.recording,
                now=NOW,
            )
            self.send_due(NOW)


Incoming = (
    ReturneeRegistered
    | AidGranted
    | ActivityLaunched
    | ReturneeErased
    | ConsentChanged
    | OpenedUpdate
    | ReturneeMerged
)


def registration(
    returnee_id: UUID, phone: str | None, language: str = "fr", **changes: Any
) -> ReturneeRegistered:
    return example_returnee_registered(
        **{
            "returnee_id": returnee_id,
            "registered_at": NOW - timedelta(hours=1),
            "arrival_date": NOW.date(),
            "preferred_language": language,
            "vulnerabilities": [],
            "consents": {"sms_contact": phone is not None},
            "personal": {"phone": phone},
            **changes,
        }
    )


def flagged(returnee_id: UUID, phone: str | None, of: UUID, **changes: Any) -> ReturneeRegistered:
    """A weak duplicate match, registered and waiting for a supervisor's review."""
    return registration(returnee_id, phone, possible_duplicate_of=[of], **changes)


def merge(returnee_id: UUID, into: UUID, at: datetime = NOW) -> ReturneeMerged:
    return example_returnee_merged(returnee_id=returnee_id, merged_into=into, merged_at=at)


def aid(returnee_id: UUID) -> AidGranted:
    return example_aid_granted(aid_id=uuid4(), returnee_id=returnee_id, granted_at=NOW)


def erasure(returnee_id: UUID) -> ReturneeErased:
    return example_returnee_erased(returnee_id=returnee_id, erased_at=NOW)


def new_phone_for(returnee_id: UUID, version: int, phone: str) -> OpenedUpdate:
    event = example_returnee_updated(
        returnee_id=returnee_id,
        version=version,
        changed=["personal.phone"],
        facts={"preferred_language": None},
    )
    return OpenedUpdate(event, PersonalData(given_name="Awa", family_name="Traoré", phone=phone))


class TestRules:
    def test_only_an_unconfirmed_weak_match_awaits_a_review(self) -> None:
        a = uuid4()
        assert awaits_duplicate_review(flagged(uuid4(), PHONE_B, of=a))
        assert not awaits_duplicate_review(registration(uuid4(), PHONE_B))
        confirmed = flagged(uuid4(), PHONE_B, of=a, duplicate_confirmed_by="supervisor.kayes.1")
        assert not awaits_duplicate_review(confirmed)

    def test_chains_are_followed_whatever_was_read_and_a_cycle_ends(self) -> None:
        x, b, a, c = uuid4(), uuid4(), uuid4(), uuid4()
        assert resolve_merges({x: b, b: a}, [x, b, a, c]) == {x: a, b: a}
        assert resolve_merges({x: b, b: x}, [x]) == {x: b}  # never produced by intake


class TestHold:
    async def test_a_flagged_registration_greets_after_the_hold_and_tells_its_team_at_once(
        self,
    ) -> None:
        memory, a, b = Memory(), uuid4(), uuid4()

        await memory.consume(flagged(b, PHONE_B, of=a, vulnerabilities=["elderly"]))

        [welcome] = memory.rows_of("welcome_sms")
        assert (welcome.status, welcome.not_before) == (Status.QUEUED, NOW + HOLD)
        [email] = memory.rows_of("vulnerable_arrival_email")
        assert email.not_before is None  # centre teams are not held
        assert memory.sent == []
        memory.send_due(AFTER_THE_HOLD)  # no merge came: greeted as usual
        assert memory.sent_to(PHONE_B) == [("welcome_sms", "fr")]

    async def test_a_confirmed_or_unflagged_registration_greets_at_once(self) -> None:
        memory, a = Memory(), uuid4()
        confirmed = flagged(uuid4(), PHONE_B, of=a, duplicate_confirmed_by="supervisor.kayes.1")

        await memory.consume(confirmed, registration(uuid4(), PHONE_C))

        assert memory.sent_to(PHONE_B) == memory.sent_to(PHONE_C) == [("welcome_sms", "fr")]

    async def test_without_a_hold_a_flagged_registration_records_what_it_did_before(
        self,
    ) -> None:
        """DUPLICATE_HOLD_HOURS=0: the same rows as a registration no one flagged."""
        a, b = uuid4(), uuid4()
        unheld, plain = Memory(hold=timedelta(0)), Memory(hold=timedelta(0))
        event_id = uuid4()
        for memory, event in (
            (unheld, flagged(b, PHONE_B, of=a)),
            (plain, registration(b, PHONE_B)),
        ):
            await record_events(
                [Consumed(event, event_id, NOW)],
                ledger=memory,
                contacts=memory,
                forgetting=memory,
                follow_ups=memory,
                recording=memory.recording,
                now=NOW,
            )

        assert unheld.rows == plain.rows and unheld.contacts == plain.contacts
        [welcome] = unheld.rows.values()
        assert (welcome.status, welcome.not_before) == (Status.QUEUED, None)

    async def test_aid_is_not_held_by_the_review(self) -> None:
        """Only the registration's own greeting waits: an aid is a case worker's decision."""
        memory, a, b = Memory(), uuid4(), uuid4()
        await memory.consume(flagged(b, PHONE_B, of=a), aid(b))
        assert memory.sent_to(PHONE_B) == [("aid_granted_sms", "fr")]


class TestMerge:
    async def test_a_merge_within_the_hold_leaves_one_greeting_and_later_aid_goes_to_the_kept(
        self,
    ) -> None:
        memory, a, b = Memory(), uuid4(), uuid4()
        await memory.consume(registration(a, PHONE_A, "en"), flagged(b, PHONE_B, of=a))
        assert memory.sent_to(PHONE_A) == [("welcome_sms", "en")]

        await memory.consume(merge(b, a), aid(b))
        memory.send_due(AFTER_THE_HOLD)

        assert memory.sent_to(PHONE_A) == [("aid_granted_sms", "en"), ("welcome_sms", "en")]
        assert memory.sent_to(PHONE_B) == []
        [cancelled] = [r for r in memory.rows_of("welcome_sms") if r.returnee_id == b]
        assert (cancelled.status, cancelled.last_error) == (Status.FAILED, MERGED)
        assert cancelled.address is None and cancelled.body is None
        [aid_row] = memory.rows_of("aid_granted_sms")
        assert (aid_row.returnee_id, aid_row.recipient) == (a, f"returnee:{a}")
        assert a.hex[:8].upper() in next(s.body for s in memory.sent if s.rule == "aid_granted_sms")
        assert memory.contacts[b].phone is None  # never contacted as itself again

    @pytest.mark.parametrize("batch", [False, True], ids=["one by one", "one batch"])
    async def test_one_greeting_and_aid_to_the_kept_phone_whatever_the_order(
        self, batch: bool
    ) -> None:
        a, b = uuid4(), uuid4()
        events: list[Incoming] = [
            registration(a, PHONE_A, "en"),
            flagged(b, PHONE_B, of=a),
            merge(b, a),
        ]
        for order in itertools.permutations(events):
            memory = Memory()
            await memory.consume(*order, aid(b), batch=batch)
            await memory.consume(merge(b, a))  # redelivered, or replayed: changes nothing
            memory.send_due(AFTER_THE_HOLD)
            named = [type(e).__name__ for e in order]
            assert memory.sent_to(PHONE_A) == [
                ("aid_granted_sms", "en"),
                ("welcome_sms", "en"),
            ], named
            assert memory.sent_to(PHONE_B) == [], named
            assert memory.contacts[b].phone is None and memory.contacts[a].phone == PHONE_A

    async def test_a_merge_read_first_means_the_later_registration_is_never_greeted(
        self,
    ) -> None:
        memory, a, b = Memory(hold=timedelta(0)), uuid4(), uuid4()  # not even held

        await memory.consume(merge(b, a), flagged(b, PHONE_B, of=a), registration(a, PHONE_A))

        assert memory.sent_to(PHONE_A) == [("welcome_sms", "fr")]
        assert memory.sent_to(PHONE_B) == []
        assert [r.returnee_id for r in memory.rows.values()] == [a]
        assert memory.contacts[b].phone is None

    @pytest.mark.parametrize("kept_registered_first", [False, True])
    async def test_aid_that_overtook_the_merged_registration_goes_to_the_kept_one(
        self, kept_registered_first: bool
    ) -> None:
        """Held for B's registration when the merge comes: it is the person's, and B's
        registration will never say how to reach them; A's does."""
        memory, a, b = Memory(), uuid4(), uuid4()
        first = [registration(a, PHONE_A, "en")] if kept_registered_first else []
        await memory.consume(*first, aid(b), merge(b, a))
        if not kept_registered_first:
            [held] = memory.rows_of("aid_granted_sms")[1:]  # B's is cancelled, A's waits
            assert (held.returnee_id, held.status) == (a, Status.HELD)
            await memory.consume(registration(a, PHONE_A, "en"))
        await memory.consume(flagged(b, PHONE_B, of=a))
        await memory.consume(aid(b))  # one more, read after everything

        statuses = sorted(
            (r.returnee_id == a, r.status, r.last_error) for r in memory.rows_of("aid_granted_sms")
        )
        assert statuses == [
            (False, Status.FAILED, MERGED),
            (True, Status.SENT, None),
            (True, Status.SENT, None),
        ]
        assert memory.sent_to(PHONE_A) == [
            ("aid_granted_sms", "en"),
            ("aid_granted_sms", "en"),
            ("welcome_sms", "en"),
        ]
        assert memory.sent_to(PHONE_B) == []

    async def test_an_activity_naming_both_registrations_tells_the_person_once(self) -> None:
        memory, a, b = Memory(), uuid4(), uuid4()
        await memory.consume(registration(a, PHONE_A), merge(b, a))

        await memory.consume(
            example_activity_launched(
                activity_id=uuid4(), returnee_ids=[str(a), str(b)], level="collective", shares=[]
            )
        )

        assert memory.sent_to(PHONE_A) == [("activity_launched_sms", "fr"), ("welcome_sms", "fr")]

    async def test_a_chain_reaches_the_registration_kept_last(self) -> None:
        """X merged into B, then B into A: intake also says X into A, but that may come later."""
        memory, a, b, x = Memory(), uuid4(), uuid4(), uuid4()
        await memory.consume(registration(a, PHONE_A), merge(x, b), merge(b, a))

        await memory.consume(aid(x))

        assert memory.sent_to(PHONE_A) == [("aid_granted_sms", "fr"), ("welcome_sms", "fr")]

    async def test_an_older_merge_read_late_does_not_undo_a_newer_one(self) -> None:
        memory, a, b, x = Memory(), uuid4(), uuid4(), uuid4()
        await memory.consume(registration(a, PHONE_A), registration(b, PHONE_B))
        memory.sent.clear()

        await memory.consume(merge(x, a, at=NOW), merge(x, b, at=NOW - timedelta(days=1)), aid(x))

        assert memory.sent_to(PHONE_A) == [("aid_granted_sms", "fr")]
        assert memory.sent_to(PHONE_B) == []

    async def test_a_new_phone_of_a_merged_registration_is_not_kept(self) -> None:
        memory, a, b, c = Memory(), uuid4(), uuid4(), uuid4()
        await memory.consume(merge(b, a), merge(c, a))
        await memory.consume(registration(b, PHONE_B), new_phone_for(b, 2, PHONE_C))
        await memory.consume(new_phone_for(c, 2, PHONE_C))  # waiting for its registration

        assert (memory.contacts[b].phone, memory.contacts[b].phone_version) == (None, 2)
        waiting = memory.waiting[c].phone
        assert waiting is not None and (waiting.value, waiting.version) == (None, 2)

    @pytest.mark.parametrize("erased", ["kept", "merged"])
    async def test_an_erasure_under_either_registration_wins(self, erased: str) -> None:
        a, b = uuid4(), uuid4()
        gone = a if erased == "kept" else b
        events: list[Incoming] = [
            registration(a, PHONE_A),
            flagged(b, PHONE_B, of=a),
            merge(b, a),
            erasure(gone),
        ]
        for order in itertools.permutations(events):
            memory = Memory()
            await memory.consume(aid(b), *order)  # one aid waits for B's registration
            memory.sent.clear()  # whatever went out before the erasure was read

            await memory.consume(aid(b))
            memory.send_due(AFTER_THE_HOLD)

            assert memory.sent == [], [type(e).__name__ for e in order]
            assert gone not in memory.contacts
            waiting = [r for r in memory.rows.values() if r.status in (Status.HELD, Status.QUEUED)]
            assert all(r.returnee_id != gone for r in waiting)
