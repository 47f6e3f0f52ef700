"""Opening a batch's sealed registrations, with an in-memory key store (the real one is
tested against the running intake in tests/test_data_key_cache.py)."""

from __future__ import annotations

from collections.abc import Collection
from uuid import UUID, uuid4

import pytest

from retour_contracts import (
    CaseAssigned,
    CaseClosed,
    CaseReopened,
    FollowUpScheduled,
    ParsedEvent,
    PersonalData,
    PlanAgreed,
    ReintegrationAssessed,
    ReturneeRegistered,
    SealBrokenError,
    build_envelope,
    new_data_key,
    parse_envelope,
    seal_registration,
    spec_for_model,
)
from retour_contracts.examples import (
    example_aid_granted,
    example_case_event,
    example_returnee_erased,
    example_returnee_merged,
    example_returnee_updated,
)
from retour_contracts.examples import example_returnee_registered as registered
from retour_contracts.models import ContractModel
from retour_contracts.sealing import UPDATED, seal_personal
from retour_notifications.domain.corrections import OpenedUpdate
from retour_notifications.usecases.unseal import DataKeyRefusedError, opened


class Keys:
    """Intake's answers: a key, or a refusal's reason (``unknown`` for anyone not listed)."""

    def __init__(self, keys: dict[UUID, bytes | str]) -> None:
        self.keys = keys
        self.asked: list[set[UUID]] = []
        self.forgotten: list[UUID] = []

    async def keys_of(self, returnee_ids: Collection[UUID]) -> dict[UUID, bytes | str]:
        self.asked.append(set(returnee_ids))
        return {rid: self.keys.get(rid, "unknown") for rid in returnee_ids}

    def forget(self, returnee_id: UUID) -> None:
        self.forgotten.append(returnee_id)


def received(event: ContractModel, event_id: UUID | None = None) -> ParsedEvent:
    """``event`` as the consumer parses it off the wire."""
    spec = spec_for_model(type(event))
    envelope = build_envelope(spec, event, source="/test", event_id=str(event_id or uuid4()))
    return parse_envelope(envelope.topic, envelope.key, envelope.value, envelope.headers)


def sealed(registration: ReturneeRegistered, key: bytes) -> ParsedEvent:
    event_id = uuid4()
    return received(seal_registration(registration, key, event_id=str(event_id)), event_id)


async def test_sealed_registrations_open_and_the_others_pass_unchanged() -> None:
    known, erased = registered(returnee_id=str(uuid4())), registered(returnee_id=str(uuid4()))
    key = new_data_key()
    plain = registered(returnee_id=str(uuid4()))
    aid = example_aid_granted(aid_id=str(uuid4()), returnee_id=str(known.returnee_id))
    batch = [
        sealed(known, key),
        sealed(erased, new_data_key()),
        received(plain),  # version 1, still on the topic
        received(aid),
    ]
    keys = Keys({known.returnee_id: key, erased.returnee_id: "erased"})

    result = await opened(batch, keys)

    assert [c.event for c in result] == [known, plain, aid]
    assert [str(c.event_id) for c in result] == [batch[i].event_id for i in (0, 2, 3)]
    assert keys.asked == [{known.returnee_id, erased.returnee_id}]  # one lookup per batch


async def test_a_batch_without_sealed_registrations_asks_for_no_key() -> None:
    keys = Keys({})
    batch = [received(registered(returnee_id=str(uuid4())))]
    assert [c.event for c in await opened(batch, keys)] == [batch[0].event]
    assert keys.asked == []


async def test_an_erasure_in_the_batch_drops_the_cached_key() -> None:
    keys = Keys({})
    erasure = example_returnee_erased(returnee_id=str(uuid4()))
    await opened([received(erasure)], keys)
    assert keys.forgotten == [erasure.returnee_id]


async def test_a_block_that_does_not_open_with_its_key_fails_the_event() -> None:
    person = registered(returnee_id=str(uuid4()))
    keys = Keys({person.returnee_id: new_data_key()})  # not the key it was sealed with
    with pytest.raises(SealBrokenError):
        await opened([sealed(person, new_data_key())], keys)


@pytest.mark.parametrize("reason", ["unknown", "not_sealed", "unmentioned"])
async def test_a_key_refused_for_another_reason_than_erasure_fails_the_event(reason: str) -> None:
    """Never dropped in silence: an intake that does not know the person (another
    environment's, a lost key) must reach an operator through the dead-letter topic."""
    person = registered(returnee_id=str(uuid4()))
    keys = Keys({person.returnee_id: reason})
    with pytest.raises(DataKeyRefusedError, match=f"{person.returnee_id}: {reason}") as caught:
        await opened([sealed(person, new_data_key())], keys)
    assert person.personal.family_name not in str(caught.value)


def sealed_update(returnee_id: UUID, key: bytes, phone: str | None) -> ParsedEvent:
    """A new phone and language for ``returnee_id``, the personal block sealed under ``key``."""
    event_id = uuid4()
    personal = PersonalData(given_name="Aminata", family_name="Diarra", phone=phone)
    block = seal_personal(personal, key, event_id=str(event_id), event_name=UPDATED)
    update = example_returnee_updated(returnee_id=returnee_id, sealed_personal=block)
    return received(update, event_id)


async def test_an_update_with_a_new_phone_is_opened_with_the_returnees_key() -> None:
    person, key = uuid4(), new_data_key()
    keys = Keys({person: key})
    batch = [sealed_update(person, key, "+22376012345")]

    [consumed] = await opened(batch, keys)

    assert isinstance(consumed.event, OpenedUpdate)
    assert consumed.event.event == batch[0].event
    assert consumed.event.personal is not None
    assert consumed.event.personal.phone == "+22376012345"
    assert keys.asked == [{person}]


async def test_an_update_without_a_new_phone_asks_for_no_key() -> None:
    """A corrected name is none of notifications' business: its block stays sealed."""
    keys = Keys({})
    update = example_returnee_updated(
        returnee_id=uuid4(),
        changed=["preferred_language", "personal.family_name"],
    )

    [consumed] = await opened([received(update)], keys)

    assert consumed.event == OpenedUpdate(update, None)
    assert keys.asked == []


async def test_an_erased_persons_update_is_skipped_and_another_refusal_fails_it() -> None:
    erased, unknown = uuid4(), uuid4()
    keys = Keys({erased: "erased"})
    assert await opened([sealed_update(erased, new_data_key(), None)], keys) == []

    with pytest.raises(DataKeyRefusedError, match=f"{unknown}: unknown") as caught:
        await opened([sealed_update(unknown, new_data_key(), "+22376012345")], keys)
    assert "+22376012345" not in str(caught.value)


async def test_an_update_block_that_does_not_open_fails_the_event() -> None:
    person = uuid4()
    keys = Keys({person: new_data_key()})
    with pytest.raises(SealBrokenError):
        await opened([sealed_update(person, new_data_key(), "+22376012345")], keys)


async def test_a_merge_passes_through_and_asks_for_no_key() -> None:
    """It carries no personal data: nothing to open, and it must never fail as unknown."""
    keys = Keys({})
    merge = example_returnee_merged(returnee_id=uuid4(), merged_into=uuid4())
    batch = [received(merge)]

    [consumed] = await opened(batch, keys)

    assert (consumed.event, str(consumed.event_id)) == (merge, batch[0].event_id)
    assert keys.asked == []


@pytest.mark.parametrize(
    "model", [CaseAssigned, CaseClosed, CaseReopened, FollowUpScheduled, ReintegrationAssessed]
)
async def test_case_events_pass_as_they_are_without_a_key(model: type[ContractModel]) -> None:
    event = example_case_event(model)
    keys = Keys({})

    [consumed] = await opened([received(event)], keys)

    assert consumed.event == event
    assert keys.asked == []  # nothing sealed, so no key asked for


async def test_a_case_event_notifications_does_not_follow_fails_loudly() -> None:
    with pytest.raises(TypeError, match="notifications does not consume"):
        await opened([received(example_case_event(PlanAgreed))], Keys({}))
