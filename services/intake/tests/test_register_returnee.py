"""register_returnee with an in-memory unit of work: the decisions, without a database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID, uuid4

import pytest
from pydantic import ValidationError

from retour_contracts import (
    ReturneeRegistered,
    ReturneeRegisteredV2,
    new_data_key,
    open_registration,
)
from retour_intake.domain.commands import EXAMPLE, InvalidField, RegisterReturnee
from retour_intake.domain.duplicates import DuplicateAssessment, KnownPerson, PersonKeys
from retour_intake.domain.expected import OpenExpected
from retour_intake.domain.registration import DuplicateSuspected, OverrideRefused, Registrar
from retour_intake.use_cases import register_returnee
from retour_kit.idempotency import IdempotencyKeyReused, StoredResponse

NOW = datetime(2024, 3, 3, 10, 0, tzinfo=UTC)
TRACE = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


class FakeUnitOfWork:
    def __init__(self) -> None:
        self.people: dict[UUID, PersonKeys] = {}
        self.published: list[tuple[ReturneeRegisteredV2, UUID]] = []
        self.data_keys: dict[UUID, bytes] = {}
        self.keys: dict[str, tuple[str, StoredResponse | None]] = {}
        self.committed = 0
        self.accesses: list[tuple[str, UUID, bool]] = []
        self.reviews: list[tuple[UUID, UUID, str, str | None, str | None]] = []

    async def claim_idempotency_key(self, key: str, fingerprint: str) -> StoredResponse | None:
        if key not in self.keys:
            self.keys[key] = (fingerprint, None)
            return None
        stored_fingerprint, response = self.keys[key]
        if stored_fingerprint != fingerprint:
            raise IdempotencyKeyReused(key)
        return response

    async def store_response(self, key: str, response: StoredResponse) -> None:
        self.keys[key] = (self.keys[key][0], response)

    async def lock_identity(self, keys: PersonKeys) -> None:
        return None

    async def known_people(self, keys: PersonKeys) -> list[KnownPerson]:
        return [KnownPerson(rid, k) for rid, k in self.people.items()]

    async def add(self, event: ReturneeRegistered, keys: PersonKeys) -> None:
        self.people[event.returnee_id] = keys

    async def queue_reviews(
        self, event: ReturneeRegistered, duplicates: DuplicateAssessment, *, reason: str | None
    ) -> None:
        by = event.duplicate_confirmed_by
        self.reviews += [(event.returnee_id, m, "weak", None, None) for m in duplicates.weak]
        self.reviews += [(event.returnee_id, m, "strong", by, reason) for m in duplicates.strong]

    async def open_expected(self, keys: PersonKeys) -> list[OpenExpected]:
        return []  # no manifest announced anyone: expected arrivals are tested against the stack

    async def lock_open_expected(self, expected_id: UUID) -> bool:
        return False

    async def mark_arrived(self, expected_id: UUID, returnee_id: UUID, *, at: datetime) -> None:
        raise AssertionError("nobody is expected")

    async def issue_data_key(self, returnee_id: UUID) -> bytes:
        assert returnee_id not in self.data_keys
        self.data_keys[returnee_id] = new_data_key()
        return self.data_keys[returnee_id]

    async def publish(
        self, event: ReturneeRegisteredV2, *, event_id: UUID, traceparent: str
    ) -> None:
        self.published.append((event, event_id))

    async def record_access(
        self, registrar: Registrar, returnee_id: UUID, *, created: bool
    ) -> None:
        self.accesses.append((registrar.subject, returnee_id, created))


class FakeDatabase:
    """Applies a unit of work only when its block ends without an exception (a commit)."""

    def __init__(self) -> None:
        self.state = FakeUnitOfWork()

    @asynccontextmanager
    async def start(self) -> AsyncIterator[FakeUnitOfWork]:
        import copy

        working = copy.deepcopy(self.state)
        yield working
        working.committed += 1
        self.state = working


def command(**changes: Any) -> RegisterReturnee:
    data = {**EXAMPLE, **changes}
    return RegisterReturnee.model_validate(data)


REGISTRAR = Registrar("registrar.gao.1")


async def run(
    db: FakeDatabase,
    cmd: RegisterReturnee,
    key: str | None = None,
    registrar: Registrar = REGISTRAR,
) -> Any:
    """Every registration carries a key; a test that does not care gets a fresh one."""
    return await register_returnee(
        db.start,
        cmd,
        registrar=registrar,
        idempotency_key=key or str(uuid4()),
        traceparent=TRACE,
        now=lambda: NOW,
        new_id=uuid4,
    )


async def test_registration_publishes_one_event_with_the_age_at_arrival() -> None:
    db = FakeDatabase()
    result = await run(db, command())
    assert result.status == 201
    [(event, _)] = db.state.published
    assert event.age_years == 28  # born 1995-08-21, arrived 2024-03-02
    assert event.age_is_estimated is False
    assert result.body["returnee_id"] == str(event.returnee_id)


async def test_the_published_event_carries_the_personal_block_sealed_under_a_new_key() -> None:
    db = FakeDatabase()
    result = await run(db, command())
    [(event, event_id)] = db.state.published
    assert isinstance(event, ReturneeRegisteredV2)
    assert EXAMPLE["personal"]["family_name"] not in event.model_dump_json()
    key = db.state.data_keys[event.returnee_id]
    opened = open_registration(event, key, event_id=str(event_id))
    assert opened == ReturneeRegistered.model_validate(result.body)


async def test_an_age_estimate_is_recorded_as_estimated() -> None:
    personal = {**EXAMPLE["personal"], "date_of_birth": None}
    result = await run(FakeDatabase(), command(personal=personal, age_estimate=40))
    assert result.body["age_years"] == 40
    assert result.body["age_is_estimated"] is True


async def test_a_strong_duplicate_is_refused_and_nothing_is_kept() -> None:
    db = FakeDatabase()
    first = await run(db, command())
    with pytest.raises(DuplicateSuspected) as refused:
        await run(db, command(reception_centre="kayes"))
    assert refused.value.matches == (UUID(first.body["returnee_id"]),)
    assert len(db.state.published) == 1


async def test_only_a_supervisor_overrides_a_strong_match_and_says_why() -> None:
    db = FakeDatabase()
    first = await run(db, command())
    supervisor = Registrar("supervisor.gao.1", ("supervisor",))
    with pytest.raises(OverrideRefused):
        await run(db, command(confirm_not_duplicate=True))
    with pytest.raises(InvalidField, match="override_reason"):
        await run(db, command(confirm_not_duplicate=True), registrar=supervisor)

    second = await run(
        db,
        command(confirm_not_duplicate=True, override_reason="documents_checked"),
        registrar=supervisor,
    )

    first_id, second_id = UUID(first.body["returnee_id"]), UUID(second.body["returnee_id"])
    assert second.body["possible_duplicate_of"] == [str(first_id)]
    assert second.body["duplicate_confirmed_by"] == "supervisor.gao.1"
    # The override is kept as a decided review: who let the pair through, and why.
    assert db.state.reviews == [
        (second_id, first_id, "strong", "supervisor.gao.1", "documents_checked")
    ]


async def test_a_weak_match_registers_and_flags() -> None:
    db = FakeDatabase()
    first = await run(db, command())
    personal = {**EXAMPLE["personal"], "date_of_birth": "1996-01-05", "phone": None}
    second = await run(db, command(personal=personal))
    assert second.body["possible_duplicate_of"] == [first.body["returnee_id"]]
    assert second.body["duplicate_confirmed_by"] is None
    # Nobody decided: the pair waits in the review queue.
    second_id, first_id = UUID(second.body["returnee_id"]), UUID(first.body["returnee_id"])
    assert db.state.reviews == [(second_id, first_id, "weak", None, None)]


async def test_the_same_key_and_body_replays_the_first_answer() -> None:
    db = FakeDatabase()
    first = await run(db, command(), key="k-1")
    again = await run(db, command(), key="k-1")
    assert again.replayed and again.body == first.body
    assert len(db.state.published) == 1


async def test_creating_and_replaying_a_registration_are_both_in_the_access_log() -> None:
    db = FakeDatabase()
    first = await run(db, command(), key="k-log")
    await run(db, command(), key="k-log")
    returnee_id = UUID(first.body["returnee_id"])

    assert db.state.accesses == [
        ("registrar.gao.1", returnee_id, True),
        ("registrar.gao.1", returnee_id, False),
    ]


async def test_the_same_key_with_another_body_is_refused() -> None:
    db = FakeDatabase()
    await run(db, command(), key="k-2")
    with pytest.raises(IdempotencyKeyReused):
        await run(db, command(household_size=9), key="k-2")


class TestRegisterReturneeValidation:
    def test_phone_needs_sms_consent(self) -> None:
        consents = {**EXAMPLE["consents"], "sms_contact": False}
        with pytest.raises(ValidationError) as invalid:
            command(consents=consents)
        assert invalid.value.errors()[0]["loc"] == ("personal",)

    def test_arrival_in_the_future_is_refused(self) -> None:
        with pytest.raises(ValidationError) as invalid:
            command(arrival_date=date(2999, 1, 1).isoformat())
        assert invalid.value.errors()[0]["loc"] == ("arrival_date",)

    def test_a_date_of_birth_or_an_estimate_is_required(self) -> None:
        personal = {**EXAMPLE["personal"], "date_of_birth": None}
        with pytest.raises(ValidationError) as invalid:
            command(personal=personal)
        assert invalid.value.errors()[0]["loc"] == ("age_estimate",)

    def test_unknown_fields_are_refused(self) -> None:
        with pytest.raises(ValidationError) as invalid:
            command(nickname="Mouss")
        assert invalid.value.errors()[0]["loc"] == ("nickname",)
