"""Sealing the personal block of ``returnee.registered`` v2 and ``returnee.updated``
(crypto-shredding).

Each returnee has a data key of their own, held by intake and never sent on Kafka. The personal
block is encrypted with AES-256-GCM under that key, the event id as associated data: a block
moved into another event, or altered in any bit, does not open. Erasing the key is erasing
every copy of the block: the topic, its dead letters, backups and any partner's mirror.
"""

import base64
import os
from typing import Any, TypeVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import ValidationError

from retour_contracts.models import (
    ContractModel,
    ExpectedPersonal,
    PersonalData,
    ReturneeExpected,
    ReturneeRegistered,
    ReturneeRegisteredV2,
    ReturneeUpdated,
    SealedPersonal,
)
from retour_contracts.models.types import FROM_THE_WIRE

REGISTERED = "returnee.registered"
UPDATED = "returnee.updated"
EXPECTED = "returnee.expected"
DATA_KEY_BYTES = 32
NONCE_BYTES = 12
ALGORITHM = "AES-256-GCM"

P = TypeVar("P", bound=ContractModel)


class SealBrokenError(ValueError):
    """The sealed block does not open: another key, another event, or altered bytes.

    Its message never contains the block or the key."""


def new_data_key() -> bytes:
    """A fresh 256-bit data key from the operating system's CSPRNG."""
    return AESGCM.generate_key(bit_length=DATA_KEY_BYTES * 8)


def seal_personal(
    personal: ContractModel,
    key: bytes,
    *,
    event_id: str,
    nonce: bytes | None = None,
    event_name: str = REGISTERED,
) -> SealedPersonal:
    """``nonce`` is fixed only by the documents' examples, which must not change at each build;
    anything else leaves it random (96 random bits: safe far beyond one key's use).
    ``event_name`` is bound with the event id, so a block never opens in another kind of event.
    """
    nonce = os.urandom(NONCE_BYTES) if nonce is None else nonce
    aad = _aad(event_name, event_id)
    ciphertext = _cipher(key).encrypt(nonce, personal.model_dump_json().encode(), aad)
    return SealedPersonal(algorithm=ALGORITHM, nonce=_b64(nonce), ciphertext=_b64(ciphertext))


def open_personal(
    sealed: SealedPersonal, key: bytes, *, event_id: str, event_name: str = REGISTERED
) -> PersonalData:
    return _open_as(PersonalData, sealed, key, event_id=event_id, event_name=event_name)


def seal_expected(
    personal: ExpectedPersonal, key: bytes, *, event_id: str, nonce: bytes | None = None
) -> SealedPersonal:
    """The personal block of a ``returnee.expected``, under the expected person's data key."""
    return seal_personal(personal, key, event_id=event_id, nonce=nonce, event_name=EXPECTED)


def open_expected(event: ReturneeExpected, key: bytes, *, event_id: str) -> ExpectedPersonal:
    """What identifies an expected person, sealed under their own data key."""
    return _open_as(
        ExpectedPersonal, event.sealed_personal, key, event_id=event_id, event_name=EXPECTED
    )


def _open_as(
    model: type[P], sealed: SealedPersonal, key: bytes, *, event_id: str, event_name: str
) -> P:
    try:
        plaintext = _cipher(key).decrypt(
            _unb64(sealed.nonce), _unb64(sealed.ciphertext), _aad(event_name, event_id)
        )
    except (InvalidTag, ValueError):
        raise SealBrokenError(
            "the sealed personal block does not open with this key for this event"
        ) from None
    try:
        return model.model_validate_json(plaintext, context={FROM_THE_WIRE: True})
    except ValidationError as error:
        raise SealBrokenError(
            f"the opened personal block is invalid at {_locations(error)}"
        ) from None


def seal_registration(
    event: ReturneeRegistered, key: bytes, *, event_id: str, nonce: bytes | None = None
) -> ReturneeRegisteredV2:
    """Version 2 of ``event``: the same facts, its personal block sealed under ``key``."""
    return ReturneeRegisteredV2.model_construct(
        **_facts_of(event),
        sealed_personal=seal_personal(event.personal, key, event_id=event_id, nonce=nonce),
    )


def open_registration(
    event: ReturneeRegisteredV2, key: bytes, *, event_id: str
) -> ReturneeRegistered:
    """The registration with its personal block in clear, checked again as version 1 is
    (a phone only with SMS consent, a date of birth that matches the age)."""
    personal = open_personal(event.sealed_personal, key, event_id=event_id)
    try:
        return ReturneeRegistered.model_validate(
            {**_facts_of(event), "personal": personal}, context={FROM_THE_WIRE: True}
        )
    except ValidationError as error:
        raise SealBrokenError(
            f"the opened registration is inconsistent at {_locations(error)}"
        ) from None


def open_update(event: ReturneeUpdated, key: bytes, *, event_id: str) -> PersonalData | None:
    """The personal block as it is after the change, or None when no personal field changed."""
    if event.sealed_personal is None:
        return None
    return open_personal(event.sealed_personal, key, event_id=event_id, event_name=UPDATED)


def _locations(error: ValidationError) -> str:
    # Locations only: the input values are the person's data.
    return ", ".join(".".join(str(part) for part in e["loc"]) for e in error.errors())


def _facts_of(event: ReturneeRegistered | ReturneeRegisteredV2) -> dict[str, Any]:
    # Attribute access, not model_dump: the values are already validated models and types.
    return {name: getattr(event, name) for name in _FACT_FIELDS}


def encode_key(key: bytes) -> str:
    """A data key as intake's key store hands it out: base64url without padding."""
    return _b64(key)


def decode_key(text: str) -> bytes:
    """The inverse of ``encode_key``; raises SealBrokenError for anything but a data key."""
    try:
        key = _unb64(text)
    except ValueError:
        raise SealBrokenError("a data key is base64url") from None
    if len(key) != DATA_KEY_BYTES:
        raise SealBrokenError(f"a data key has {DATA_KEY_BYTES} bytes")
    return key


def _cipher(key: bytes) -> AESGCM:
    if len(key) != DATA_KEY_BYTES:
        raise SealBrokenError(f"a data key has {DATA_KEY_BYTES} bytes")
    return AESGCM(key)


def _aad(event_name: str, event_id: str) -> bytes:
    return f"retour:{event_name}:{event_id}".encode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


_FACT_FIELDS = tuple(
    name for name in ReturneeRegisteredV2.model_fields if name != "sealed_personal"
)
