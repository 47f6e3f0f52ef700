"""Sealing the registrations published before version 2 (the migration of existing topics).

A version 1 record becomes its version 2 twin: the same key, the same event id (``ce_id``),
time and trace, so every consumer's inbox recognises it and a rebuild counts it once; only the
personal block changes, sealed under the returnee's data key. A record already of version 2
is copied as it is, unless its returnee's key had to be issued anew (the old one was lost with
a master key): its block opens with nothing, so it is sealed again from the registration
intake holds. A record that is not a valid event (a dead letter may be one) cannot be sealed:
if it holds a personal block, the copy goes without it (nobody could ever erase it otherwise);
anything else of it is copied as it is and counted, for the operator to decide.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from enum import StrEnum
from uuid import UUID

from retour_contracts import (
    RETURNEE_REGISTERED_V1,
    RETURNEE_REGISTERED_V2,
    EnvelopeError,
    RegistrationFacts,
    ReturneeRegistered,
    parse_envelope,
    seal_registration,
)
from retour_contracts.envelope import H_DATASCHEMA, H_SCHEMAVERSION, H_TYPE

_V2_HEADERS = {
    H_TYPE: RETURNEE_REGISTERED_V2.ce_type.encode(),
    H_SCHEMAVERSION: str(RETURNEE_REGISTERED_V2.version).encode(),
    H_DATASCHEMA: RETURNEE_REGISTERED_V2.schema_id.encode(),
}


@dataclass(frozen=True)
class RawRecord:
    partition: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    timestamp_ms: int | None = None
    """Kept by the copy, so that time-based retention still counts from the original."""


class Outcome(StrEnum):
    SEALED = "sealed"
    SHREDDED = "shredded"
    """Sealed under a key nobody keeps: the returnee was erased, or is unknown to intake."""
    ALREADY_SEALED = "already_sealed"
    RESEALED = "resealed"
    STRIPPED = "stripped"
    """Not a valid event, copied without the personal block it held in clear."""
    UNREADABLE = "unreadable"


@dataclass(frozen=True)
class HistoryKeys:
    keys: dict[UUID, bytes]
    """The data keys of the living returnees asked for (issued now for those who had none)."""
    reissued: dict[UUID, ReturneeRegistered]
    """Those who had no key, with their registration as intake holds it now."""


@dataclass(frozen=True)
class Copy:
    record: RawRecord
    outcome: Outcome


@dataclass(frozen=True)
class Read:
    """A record, and the registration it holds if it is a valid one (parsed once)."""

    record: RawRecord
    registration: RegistrationFacts | None = None
    event_id: str = ""

    @property
    def returnee_id(self) -> UUID | None:
        return self.registration.returnee_id if self.registration is not None else None


def read(record: RawRecord) -> Read:
    try:
        parsed = parse_envelope(
            RETURNEE_REGISTERED_V1.topic, record.key, record.value, record.headers
        )
    except EnvelopeError:
        return Read(record)
    if not isinstance(parsed.event, RegistrationFacts):
        return Read(record)
    return Read(record, parsed.event, parsed.event_id)


def sealed_copy(found: Read, keys: HistoryKeys, throwaway: bytes) -> Copy:
    """The record to write in place of ``found.record``. ``throwaway`` seals the blocks of
    returnees without a key (erased, or unknown to intake): nobody keeps it."""
    record, registration = found.record, found.registration
    if registration is None:
        return _without_personal_block(record)
    returnee_id = registration.returnee_id
    key = keys.keys.get(returnee_id, throwaway)
    if isinstance(registration, ReturneeRegistered):
        event = seal_registration(registration, key, event_id=found.event_id)
        outcome = Outcome.SEALED if returnee_id in keys.keys else Outcome.SHREDDED
    elif returnee_id in keys.reissued:
        event = seal_registration(keys.reissued[returnee_id], key, event_id=found.event_id)
        outcome = Outcome.RESEALED
    else:
        return Copy(record, Outcome.ALREADY_SEALED)
    headers = tuple((name, _V2_HEADERS.get(name, value)) for name, value in record.headers)
    return Copy(replace(record, value=event.model_dump_json().encode(), headers=headers), outcome)


def _without_personal_block(record: RawRecord) -> Copy:
    try:
        value = json.loads(record.value or b"")
    except ValueError:
        return Copy(record, Outcome.UNREADABLE)
    if not isinstance(value, dict) or "personal" not in value:
        return Copy(record, Outcome.UNREADABLE)
    del value["personal"]
    return Copy(replace(record, value=json.dumps(value).encode()), Outcome.STRIPPED)
