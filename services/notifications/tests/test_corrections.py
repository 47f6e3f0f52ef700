"""Corrections (returnee.updated) applied to contacts: versions, order, consent and erasure.

The use case runs against an in-memory model of the schema that follows the same rules as the
Postgres adapters (a phone only with consent, an erasure deletes the contact and what waits,
a withdrawal drops the phone): tests/retour_notifications_memory.py's, with consent changes;
tests/test_notifications_corrections.py runs the real ones.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from retour_contracts import (
    ConsentChanged,
    PersonalData,
    ReturneeErased,
    ReturneeRegistered,
)
from retour_contracts.examples import (
    example_aid_granted,
    example_consent_changed,
    example_returnee_erased,
    example_returnee_registered,
    example_returnee_updated,
)
from retour_notifications.domain.contacts import (
    Contact,
    Refusals,
    contact_of,
    registered_contact,
    withdrawn_after,
)
from retour_notifications.domain.corrections import (
    Corrections,
    OpenedUpdate,
    Versioned,
    corrections_of,
)
from retour_notifications.domain.delivery import Notification, Status
from retour_notifications.domain.planning import Event
from retour_notifications.usecases.forget import Consumed, record_events
from retour_notifications_memory import MemorySchema, packaged_recording

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
REGISTERED_AT = NOW - timedelta(days=2)
UPDATED_AT = REGISTERED_AT + timedelta(hours=1)
"""When an update is made, unless a test says otherwise."""
PHONE_A, PHONE_B, PHONE_C = "+22365012345", "+22376012345", "+22370112233"
RECORDING = packaged_recording(
    {"bamako": "equipe.bamako@example.org", "gao": "equipe.gao@example.org"}
)
KEEP = object()
"""``phone=KEEP``: the update does not change the phone."""


class Memory(MemorySchema):
    """The schema in memory, with what consent changes decide (pg_protection.py)."""

    def __init__(self) -> None:
        super().__init__()
        self.withdrawals: dict[UUID, datetime] = {}
        """sms_consent_changes.last_withdrawn_at"""

    async def change_sms_consent(
        self, returnee_id: UUID, sms_contact: bool, changed_at: datetime
    ) -> int:
        latest = self.sms_changes.get(returnee_id)
        if not sms_contact:  # the latest withdrawal is kept, even once given back
            known = self.withdrawals.get(returnee_id, changed_at)
            self.withdrawals[returnee_id] = max(known, changed_at)
        if latest is not None and latest[1] >= changed_at:
            if not sms_contact:
                self._withdrawn_late(returnee_id, changed_at)
            return 0
        self.sms_changes[returnee_id] = (sms_contact, changed_at)
        contact = self.contacts.get(returnee_id)
        if sms_contact:
            if contact is not None:
                self.contacts[returnee_id] = replace(contact, sms_consent=True)
            return 0
        if contact is not None:
            self.contacts[returnee_id] = replace(contact, sms_consent=False, phone=None)
        if returnee_id in self.waiting:
            self.waiting[returnee_id] = self.waiting[returnee_id].without_phone()
        for row in self._waiting_sms(returnee_id):
            self._cancel(row, "sms consent withdrawn")
        return 0

    def _withdrawn_late(self, returnee_id: UUID, changed_at: datetime) -> None:
        """A withdrawal older than the latest change: a phone set before it goes."""
        contact = self.contacts.get(returnee_id)
        waiting = self.waiting.get(returnee_id)
        phone = None if waiting is None else waiting.phone
        if waiting is not None and phone is not None and withdrawn_after(changed_at, phone.at):
            self.waiting[returnee_id] = waiting.without_phone()
        if contact is None or contact.phone is None or contact.phone_since >= changed_at:
            return
        self.contacts[returnee_id] = replace(contact, phone=None)
        for row in self._waiting_sms(returnee_id):
            self._cancel(row, "sms consent withdrawn")

    async def refusals(self, returnee_ids: Collection[UUID]) -> Refusals:
        return Refusals(
            forgotten=frozenset(self.forgotten & set(returnee_ids)),
            sms_changes={r: self.sms_changes[r] for r in returnee_ids if r in self.sms_changes},
            sms_withdrawals={r: self.withdrawals[r] for r in returnee_ids if r in self.withdrawals},
        )

    async def merge(self, returnee_id: UUID, into: UUID, merged_at: datetime) -> list[Notification]:
        raise AssertionError("merges are tested in test_merges.py")

    # What a test looks at
    def sms(self, rule: str) -> list[Notification]:
        return [r for r in self.rows.values() if r.rule == rule]

    def state(self) -> tuple[dict[UUID, Contact], dict[UUID, Corrections]]:
        return dict(self.contacts), dict(self.waiting)


Incoming = Event | ReturneeErased | ConsentChanged | OpenedUpdate


async def consume(memory: Memory, *events: Incoming, batch: bool = False) -> None:
    """``events`` in order, one batch each (or all in one batch), as the consumer hands them."""
    consumed = [Consumed(event, uuid4(), NOW) for event in events]
    for part in [consumed] if batch else [[c] for c in consumed]:
        await record_events(
            part,
            ledger=memory,
            contacts=memory,
            forgetting=memory,
            follow_ups=memory,
            recording=RECORDING,
            now=NOW,
        )


def registration(returnee_id: UUID, **changes: Any) -> ReturneeRegistered:
    return example_returnee_registered(
        **{
            "returnee_id": returnee_id,
            "registered_at": REGISTERED_AT,
            "arrival_date": REGISTERED_AT.date(),
            "preferred_language": "bm",
            "vulnerabilities": [],
            "personal": {"phone": PHONE_A},
            **changes,
        }
    )


def update(
    returnee_id: UUID,
    version: int,
    *,
    phone: object = KEEP,
    language: str | None = None,
    centre: str | None = None,
    names: bool = False,
    at: datetime = UPDATED_AT,
) -> OpenedUpdate:
    """An update as unseal.py hands it over: the personal block opened if the phone changed."""
    changed = [
        name
        for name, present in (
            ("preferred_language", language is not None),
            ("reception_centre", centre is not None),
            ("personal.phone", phone is not KEEP),
            ("personal.family_name", names),
        )
        if present
    ]
    personal_changed = phone is not KEEP or names
    example = example_returnee_updated()
    event = example_returnee_updated(
        returnee_id=returnee_id,
        version=version,
        changed=changed,
        facts={"preferred_language": language, "reception_centre": centre},
        sealed_personal=example.sealed_personal if personal_changed else None,
        updated_at=at,
    )
    personal = None
    if phone is not KEEP:
        assert phone is None or isinstance(phone, str)
        personal = PersonalData(given_name="Aminata", family_name="Diarra", phone=phone)
    return OpenedUpdate(event, personal)


def aid(returnee_id: UUID) -> Event:
    return example_aid_granted(aid_id=uuid4(), returnee_id=returnee_id, granted_at=NOW)


def withdrawal(returnee_id: UUID, at: datetime, *, sms: bool = False) -> ConsentChanged:
    return example_consent_changed(returnee_id=returnee_id, changed_at=at, sms_contact=sms)


def erasure(returnee_id: UUID) -> ReturneeErased:
    return example_returnee_erased(returnee_id=returnee_id, erased_at=NOW)


class TestVersions:
    def test_a_field_takes_only_a_newer_version(self) -> None:
        rid = uuid4()
        contact = contact_of(registration(rid))
        v3 = Corrections(rid, language=Versioned("fr", 3), phone=Versioned(PHONE_C, 3))
        v2 = Corrections(rid, language=Versioned("en", 2), phone=Versioned(PHONE_B, 2))

        after = contact.corrected(v3, withdrawn_at=None).corrected(v2, withdrawn_at=None)

        assert (after.language, after.phone) == ("fr", PHONE_C)
        assert (after.language_version, after.phone_version) == (3, 3)
        assert (
            after.corrected(v3, withdrawn_at=None) == after
        )  # the same update again changes nothing

    def test_fields_are_versioned_each_on_their_own(self) -> None:
        rid = uuid4()
        contact = contact_of(registration(rid))
        language_v3 = Corrections(rid, language=Versioned("fr", 3))
        phone_v2 = Corrections(rid, phone=Versioned(PHONE_B, 2))

        after = contact.corrected(language_v3, withdrawn_at=None).corrected(
            phone_v2, withdrawn_at=None
        )

        assert (after.language, after.phone, after.reception_centre) == ("fr", PHONE_B, "bamako")

    def test_corrections_combine_in_any_order(self) -> None:
        rid = uuid4()
        parts = [
            Corrections(rid, language=Versioned("en", 2), phone=Versioned(PHONE_B, 2)),
            Corrections(rid, language=Versioned("fr", 4)),
            Corrections(rid, phone=Versioned(None, 3), reception_centre=Versioned("gao", 3)),
        ]
        combined = {
            order[0].then(order[1]).then(order[2]) for order in itertools.permutations(parts)
        }
        assert combined == {
            Corrections(
                rid,
                language=Versioned("fr", 4),
                reception_centre=Versioned("gao", 3),
                phone=Versioned(None, 3),
            )
        }

    def test_an_update_says_only_what_it_changed(self) -> None:
        rid = uuid4()
        assert corrections_of(update(rid, 2, names=True)).fields == []
        full = corrections_of(update(rid, 5, phone=PHONE_B, language="fr", centre="gao"))
        assert full == Corrections(
            rid,
            language=Versioned("fr", 5),
            reception_centre=Versioned("gao", 5),
            phone=Versioned(PHONE_B, 5, UPDATED_AT),
        )
        assert corrections_of(update(rid, 6, phone=None)).phone == Versioned(None, 6, UPDATED_AT)


class TestConsentAndErasure:
    def test_a_new_phone_is_not_kept_without_consent_but_its_version_is(self) -> None:
        rid = uuid4()
        withdrawn = replace(contact_of(registration(rid)), sms_consent=False, phone=None)

        after = withdrawn.corrected(Corrections(rid, phone=Versioned(PHONE_B, 2)), withdrawn_at=NOW)

        assert (after.phone, after.phone_version) == (None, 2)
        # An older phone read later does not come back either.
        older = Corrections(rid, phone=Versioned(PHONE_C, 2))
        assert after.corrected(older, withdrawn_at=NOW).phone is None

    def test_a_later_withdrawal_wins_over_a_waiting_phone(self) -> None:
        rid = uuid4()
        refusals = Refusals(sms_changes={rid: (False, NOW)})
        waiting = Corrections(rid, phone=Versioned(PHONE_B, 2), language=Versioned("fr", 2))

        contact = registered_contact(
            registration(rid), before=None, waiting=waiting, refusals=refusals
        )

        assert contact is not None
        assert (contact.sms_consent, contact.phone, contact.language) == (False, None, "fr")

    def test_consent_given_after_a_registration_without_it_lets_a_corrected_phone_in(
        self,
    ) -> None:
        rid = uuid4()
        refused = registration(rid, consents={"sms_contact": False}, personal={"phone": None})
        refusals = Refusals(sms_changes={rid: (True, NOW)})
        waiting = Corrections(rid, phone=Versioned(PHONE_B, 2))

        contact = registered_contact(refused, before=None, waiting=waiting, refusals=refusals)

        assert contact is not None and (contact.sms_consent, contact.phone) == (True, PHONE_B)

    def test_a_forgotten_person_gets_no_contact_whatever_waited(self) -> None:
        rid = uuid4()
        contact = registered_contact(
            registration(rid),
            before=None,
            waiting=Corrections(rid, phone=Versioned(PHONE_B, 2)),
            refusals=Refusals(forgotten=frozenset({rid})),
        )
        assert contact is None

    def test_a_registration_read_again_keeps_the_corrections_applied_since(self) -> None:
        rid = uuid4()
        corrected = contact_of(registration(rid)).corrected(
            Corrections(rid, phone=Versioned(PHONE_B, 2), language=Versioned("fr", 2)),
            withdrawn_at=None,
        )

        again = registered_contact(
            registration(rid), before=corrected, waiting=None, refusals=Refusals()
        )

        assert again == corrected


class TestUseCase:
    async def test_the_next_sms_goes_to_the_new_phone_in_the_new_language(self) -> None:
        memory, rid = Memory(), uuid4()
        await consume(memory, registration(rid, preferred_language="en"))
        [welcome] = memory.sms("welcome_sms")
        assert (welcome.address, welcome.language) == (PHONE_A, "en")

        await consume(memory, update(rid, 2, phone=PHONE_B, language="fr"), aid(rid))

        [sms] = memory.sms("aid_granted_sms")
        assert (sms.status, sms.address, sms.language) == (Status.QUEUED, PHONE_B, "fr")
        assert sms.body is not None and "subvention" in sms.body
        assert len(memory.rows) == 2  # the correction itself sent nothing

    async def test_sms_still_waiting_go_to_the_new_phone_or_are_cancelled_without_one(
        self,
    ) -> None:
        memory, rid = Memory(), uuid4()
        await consume(memory, registration(rid))
        [welcome] = memory.sms("welcome_sms")

        await consume(memory, update(rid, 2, phone=PHONE_B))
        assert memory.rows[welcome.notification_id].address == PHONE_B

        await consume(memory, update(rid, 3, phone=None))
        cancelled = memory.rows[welcome.notification_id]
        assert (cancelled.status, cancelled.last_error) == (Status.FAILED, "phone number removed")
        assert cancelled.address is None and cancelled.body is None
        await consume(memory, aid(rid))
        assert memory.sms("aid_granted_sms") == []

    @pytest.mark.parametrize("batch", [False, True], ids=["one by one", "one batch"])
    async def test_the_same_contact_whatever_the_order_of_registration_and_updates(
        self, batch: bool
    ) -> None:
        rid = uuid4()
        events: list[Incoming] = [
            registration(rid),
            update(rid, 2, phone=PHONE_B, language="en"),
            update(rid, 3, language="fr", centre="gao"),
            update(rid, 4, phone=PHONE_C),
            update(rid, 5, names=True),  # nothing notifications uses
        ]
        outcomes = set()
        for order in itertools.permutations(events):
            memory = Memory()
            await consume(memory, *order, batch=batch)
            [contact] = memory.contacts.values()
            assert memory.waiting == {}
            outcomes.add(contact)
        assert outcomes == {
            Contact(
                rid,
                reception_centre="gao",
                language="fr",
                sms_consent=True,
                phone=PHONE_C,
                registered_at=REGISTERED_AT,
                language_version=3,
                centre_version=3,
                phone_version=4,
                phone_set_at=UPDATED_AT,
            )
        }

    async def test_an_update_before_the_registration_waits_for_it(self) -> None:
        memory, rid = Memory(), uuid4()
        await consume(memory, update(rid, 2, phone=PHONE_B, language="fr"), aid(rid))
        assert memory.contacts == {}
        assert memory.waiting[rid].phone == Versioned(PHONE_B, 2, UPDATED_AT)
        [held] = memory.sms("aid_granted_sms")
        assert held.status is Status.HELD

        await consume(memory, registration(rid, preferred_language="en"))

        assert memory.waiting == {}
        assert (memory.contacts[rid].phone, memory.contacts[rid].language) == (PHONE_B, "fr")
        for rule in ("welcome_sms", "aid_granted_sms"):
            [sms] = memory.sms(rule)
            assert (sms.status, sms.address, sms.language) == (Status.QUEUED, PHONE_B, "fr")

    async def test_a_registration_read_again_does_not_undo_a_correction(self) -> None:
        """A replay past the inbox's retention, or a new consumer group, reads it again."""
        memory, rid = Memory(), uuid4()
        first = registration(rid)
        await consume(memory, first, update(rid, 2, phone=PHONE_B, language="fr"))
        corrected = memory.contacts[rid]

        await consume(memory, first)

        assert memory.contacts[rid] == corrected
        assert (corrected.phone, corrected.language) == (PHONE_B, "fr")

    async def test_a_transfer_read_first_sends_the_team_email_to_the_new_centre(self) -> None:
        memory, rid = Memory(), uuid4()
        vulnerable = registration(rid, vulnerabilities=["elderly"])

        await consume(memory, update(rid, 2, centre="gao"), vulnerable)

        [email] = memory.sms("vulnerable_arrival_email")
        assert (email.recipient, email.address) == ("centre_team:gao", "equipe.gao@example.org")
        assert memory.contacts[rid].reception_centre == "gao"

    @pytest.mark.parametrize("batch", [False, True], ids=["one by one", "one batch"])
    async def test_a_later_withdrawal_wins_whatever_the_order(self, batch: bool) -> None:
        rid = uuid4()
        events: list[Incoming] = [
            registration(rid),
            update(rid, 2, phone=PHONE_B, language="fr"),
            withdrawal(rid, NOW),
        ]
        for order in itertools.permutations(events):
            memory = Memory()
            await consume(memory, *order, batch=batch)
            contact = memory.contacts[rid]
            assert (contact.sms_consent, contact.phone, contact.language) == (False, None, "fr")
            assert memory.waiting == {}
            await consume(memory, aid(rid))
            assert memory.sms("aid_granted_sms") == []

    async def test_a_waiting_phone_goes_with_a_withdrawal(self) -> None:
        memory, rid = Memory(), uuid4()
        await consume(memory, update(rid, 2, phone=PHONE_B))
        await consume(memory, withdrawal(rid, NOW))
        assert memory.waiting[rid].phone == Versioned(None, 2, UPDATED_AT)

        await consume(memory, update(rid, 3, phone=PHONE_C))  # consent known withdrawn
        assert memory.waiting[rid].phone == Versioned(None, 3, UPDATED_AT)

    @pytest.mark.parametrize("batch", [False, True], ids=["one by one", "one batch"])
    async def test_an_erased_person_is_never_brought_back_by_an_update(self, batch: bool) -> None:
        rid = uuid4()
        events: list[Incoming] = [
            registration(rid),
            erasure(rid),
            update(rid, 2, phone=PHONE_B, language="fr"),
        ]
        for order in itertools.permutations(events):
            memory = Memory()
            await consume(memory, *order, batch=batch)
            await consume(memory, aid(rid))
            assert memory.state() == ({}, {}), [type(e).__name__ for e in order]
            assert all(r.status is Status.FAILED for r in memory.rows.values())

    async def test_an_update_of_something_notifications_does_not_use_changes_nothing(
        self,
    ) -> None:
        memory, rid = Memory(), uuid4()
        await consume(memory, update(rid, 2, names=True))
        assert memory.state() == ({}, {})


T1, T2, T3, T4 = (REGISTERED_AT + timedelta(hours=hours) for hours in (1, 2, 3, 4))
"""Phone corrected (t1), SMS consent withdrawn (t2), given back (t3), a later update (t4)."""


def give_back(returnee_id: UUID, at: datetime) -> ConsentChanged:
    return withdrawal(returnee_id, at, sms=True)


def orders(events: list[Incoming]) -> list[tuple[Incoming, ...]]:
    """Every order of ``events``, and each order read twice (a redelivery of everything)."""
    return [
        twice
        for order in itertools.permutations(events)
        for twice in (order, order + order, order + tuple(reversed(order)))
    ]


class TestAWithdrawalGivenBack:
    """Intake deletes the number when SMS consent is withdrawn, and giving consent back brings
    none: a phone set before a withdrawal never comes back, whatever the order of reading."""

    def test_the_latest_withdrawal_is_known_after_a_give_back(self) -> None:
        rid = uuid4()
        given_back = Refusals(sms_changes={rid: (True, T3)}, sms_withdrawals={rid: T2})
        assert given_back.withdrawn_at(rid) == T2
        assert Refusals(sms_changes={rid: (False, T3)}).withdrawn_at(rid) == T3
        assert Refusals(sms_changes={rid: (True, T3)}).withdrawn_at(rid) is None

    @pytest.mark.parametrize(
        ("set_at", "kept"), [(T1, False), (T2, True), (T4, True)], ids=["t1", "t2", "t4"]
    )
    def test_a_corrected_phone_is_kept_only_if_set_after_the_withdrawal(
        self, set_at: datetime, kept: bool
    ) -> None:
        rid = uuid4()
        refusals = Refusals(sms_changes={rid: (True, T3)}, sms_withdrawals={rid: T2})
        waiting = Corrections(rid, phone=Versioned(PHONE_B, 2, set_at))

        contact = registered_contact(
            registration(rid), before=None, waiting=waiting, refusals=refusals
        )
        known = contact_of(registration(rid)).corrected(
            waiting, withdrawn_at=refusals.withdrawn_at(rid)
        )

        expected = PHONE_B if kept else None
        assert contact is not None
        assert (contact.sms_consent, contact.phone, contact.phone_version) == (True, expected, 2)
        assert (known.phone, known.phone_set_at) == (expected, set_at)
        assert refusals.waiting_phone(waiting).phone == Versioned(expected, 2, set_at)

    def test_a_registration_read_after_a_withdrawal_and_a_give_back_keeps_no_phone(self) -> None:
        rid = uuid4()
        refusals = Refusals(sms_changes={rid: (True, T3)}, sms_withdrawals={rid: T2})

        contact = refusals.applied_to(contact_of(registration(rid)))

        assert contact is not None and (contact.sms_consent, contact.phone) == (True, None)

    @pytest.mark.parametrize("batch", [False, True], ids=["one by one", "one batch"])
    async def test_a_phone_corrected_before_the_withdrawal_never_comes_back(
        self, batch: bool
    ) -> None:
        rid = uuid4()
        events: list[Incoming] = [
            registration(rid),
            update(rid, 2, phone=PHONE_B, at=T1),
            withdrawal(rid, T2),
            give_back(rid, T3),
        ]
        for order in orders(events):
            memory = Memory()
            await consume(memory, *order, batch=batch)
            read = [type(e).__name__ for e in order]
            contact = memory.contacts[rid]
            assert (contact.sms_consent, contact.phone, contact.phone_version) == (
                True,
                None,
                2,
            ), read
            assert memory.waiting == {}, read
            assert not [r for r in memory.sms("welcome_sms") if r.status is Status.QUEUED], read
            await consume(memory, aid(rid))
            assert memory.sms("aid_granted_sms") == [], read

    @pytest.mark.parametrize("batch", [False, True], ids=["one by one", "one batch"])
    async def test_the_registrations_own_phone_never_comes_back(self, batch: bool) -> None:
        rid = uuid4()
        events: list[Incoming] = [registration(rid), withdrawal(rid, T2), give_back(rid, T3)]
        for order in orders(events):
            memory = Memory()
            await consume(memory, *order, batch=batch)
            read = [type(e).__name__ for e in order]
            contact = memory.contacts[rid]
            assert (contact.sms_consent, contact.phone) == (True, None), read
            assert not [r for r in memory.sms("welcome_sms") if r.status is Status.QUEUED], read

    @pytest.mark.parametrize("batch", [False, True], ids=["one by one", "one batch"])
    async def test_a_phone_corrected_after_the_give_back_is_kept(self, batch: bool) -> None:
        """Unless both the withdrawal and that update are read before the give-back: consent
        is then withdrawn as far as notifications knows, and the phone is not kept (as before
        this rule: a phone only with consent), on the safe side: a number lost, never one
        kept against a withdrawal."""
        rid = uuid4()
        withdrawn, given_back, later = (
            withdrawal(rid, T2),
            give_back(rid, T3),
            update(rid, 3, phone=PHONE_C, at=T4),
        )
        events: list[Incoming] = [
            registration(rid),
            update(rid, 2, phone=PHONE_B, at=T1),
            withdrawn,
            given_back,
            later,
        ]
        for order in orders(events):
            memory = Memory()
            await consume(memory, *order, batch=batch)
            read = [type(e).__name__ for e in order]
            first = order.index
            lost = max(first(withdrawn), first(later)) < first(given_back)
            phone = None if lost else PHONE_C
            contact = memory.contacts[rid]
            assert (contact.sms_consent, contact.phone, contact.phone_version) == (
                True,
                phone,
                3,
            ), read
            assert memory.waiting == {}, read
            await consume(memory, aid(rid))
            sent = [(r.status, r.address) for r in memory.sms("aid_granted_sms")]
            assert sent == ([] if lost else [(Status.QUEUED, PHONE_C)]), read
