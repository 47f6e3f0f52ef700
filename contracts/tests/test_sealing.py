"""The sealed personal block of returnee.registered v2: only the data key, for the same event,
opens it; nothing of the person shows through the sealed form."""

from uuid import uuid4

import pytest

from retour_contracts import (
    RETURNEE_REGISTERED_V2,
    ExpectedPersonal,
    ReturneeRegistered,
    ReturneeRegisteredV2,
    SealBrokenError,
    build_envelope,
    new_data_key,
    open_expected,
    open_registration,
    parse_envelope,
    seal_expected,
    seal_registration,
)
from retour_contracts.examples import example_returnee_expected, example_returnee_registered
from retour_contracts.sealing import open_personal

CANARY = {
    "given_name": "Zyxwvutsr",
    "family_name": "Qponmlkji",
    "national_id": "CANARY-4711",
    "phone": "+22370123456",
}


def _registration() -> ReturneeRegistered:
    return example_returnee_registered(returnee_id=str(uuid4()), personal=CANARY)


def test_sealed_registration_opens_with_its_key_and_event_id() -> None:
    registration, key, event_id = _registration(), new_data_key(), str(uuid4())
    sealed = seal_registration(registration, key, event_id=event_id)
    assert open_registration(sealed, key, event_id=event_id) == registration


def test_the_wire_form_shows_nothing_of_the_person() -> None:
    registration, event_id = _registration(), str(uuid4())
    sealed = seal_registration(registration, new_data_key(), event_id=event_id)
    envelope = build_envelope(RETURNEE_REGISTERED_V2, sealed, source="/intake", event_id=event_id)
    for value in [*CANARY.values(), "70123456", '"personal"', "given_name"]:
        assert value.encode() not in envelope.value
    parsed = parse_envelope(envelope.topic, envelope.key, envelope.value, envelope.headers)
    assert isinstance(parsed.event, ReturneeRegisteredV2)
    assert parsed.event.sealed_personal == sealed.sealed_personal
    assert parsed.event.reception_centre == registration.reception_centre


def test_another_key_does_not_open() -> None:
    registration, event_id = _registration(), str(uuid4())
    sealed = seal_registration(registration, new_data_key(), event_id=event_id)
    with pytest.raises(SealBrokenError) as caught:
        open_registration(sealed, new_data_key(), event_id=event_id)
    assert "Zyxwvutsr" not in str(caught.value)


def test_a_block_moved_into_another_event_does_not_open() -> None:
    registration, key = _registration(), new_data_key()
    sealed = seal_registration(registration, key, event_id=str(uuid4()))
    with pytest.raises(SealBrokenError):
        open_registration(sealed, key, event_id=str(uuid4()))


def test_one_altered_character_does_not_open() -> None:
    registration, key, event_id = _registration(), new_data_key(), str(uuid4())
    block = seal_registration(registration, key, event_id=event_id).sealed_personal
    flipped = "A" if block.ciphertext[5] != "A" else "B"
    altered = block.model_copy(
        update={"ciphertext": block.ciphertext[:5] + flipped + block.ciphertext[6:]}
    )
    with pytest.raises(SealBrokenError):
        open_personal(altered, key, event_id=event_id)


def test_each_sealing_uses_a_new_nonce() -> None:
    registration, key, event_id = _registration(), new_data_key(), str(uuid4())
    first = seal_registration(registration, key, event_id=event_id).sealed_personal
    second = seal_registration(registration, key, event_id=event_id).sealed_personal
    assert first.nonce != second.nonce
    assert first.ciphertext != second.ciphertext


def test_an_opened_block_is_checked_like_version_1() -> None:
    """A producer that sealed a phone without SMS consent is caught when the block is opened,
    and the error names the field, not its value."""
    registration = _registration()
    key, event_id = new_data_key(), str(uuid4())
    sealed = seal_registration(registration, key, event_id=event_id)
    no_consent = sealed.model_copy(
        update={"consents": registration.consents.model_copy(update={"sms_contact": False})}
    )
    with pytest.raises(SealBrokenError, match="personal") as caught:
        open_registration(no_consent, key, event_id=event_id)
    assert CANARY["phone"] not in str(caught.value)


def test_a_key_of_the_wrong_size_is_refused() -> None:
    registration, event_id = _registration(), str(uuid4())
    with pytest.raises(SealBrokenError, match="32 bytes"):
        seal_registration(registration, b"short", event_id=event_id)


def test_an_expected_person_opens_only_as_an_expected_person() -> None:
    key, event_id = new_data_key(), str(uuid4())
    personal = ExpectedPersonal(family_name="Qponmlkji", passport_number="CANARY-4712")
    sealed = seal_expected(personal, key, event_id=event_id)
    expected = example_returnee_expected(sealed_personal=sealed)
    assert open_expected(expected, key, event_id=event_id) == personal
    wire = expected.model_dump_json()
    assert "Qponmlkji" not in wire and "CANARY-4712" not in wire
    # The event's name is bound in: the block does not open as a registration's.
    with pytest.raises(SealBrokenError):
        open_personal(sealed, key, event_id=event_id)
    with pytest.raises(SealBrokenError):
        open_expected(expected, key, event_id=str(uuid4()))
