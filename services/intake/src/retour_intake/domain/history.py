"""Sealing the registrations published before version 2 (the migration of existing topics).

A version 1 record becomes its version 2 twin: the same key, the same event id (``ce_id``),
time and trace, so every consumer's inbox recognises it and a rebuild counts it once; only the
personal block changes, sealed under the returnee's data key. A record already of version 2
is copied as it is. A record that is not a valid event (a dead letter may be one) cannot be
sealed: it is copied as it is and counted, for the operator to decide.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from uuid import UUID

from retour_contracts import (
    RETURNEE_REGISTERED_V1,
    RETURNEE_REGISTERED_V2,
    EnvelopeError,
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


class Outcome(StrEnum):
    SEALED = "sealed"
    ALREADY_SEALED = "already_sealed"
    UNREADABLE = "unreadable"


@dataclass(frozen=True)
class Copy:
    record: RawRecord
    outcome: Outcome


def registered_returnee(record: RawRecord) -> UUID | None:
    """The returnee of a version 1 registration, None for anything else."""
    try:
        parsed = parse_envelope(
            RETURNEE_REGISTERED_V1.topic, record.key, record.value, record.headers
        )
    except EnvelopeError:
        return None
    return parsed.event.returnee_id if isinstance(parsed.event, ReturneeRegistered) else None


def sealed_copy(record: RawRecord, key_of: Callable[[UUID], bytes]) -> Copy:
    """The record to write in place of ``record``; ``key_of`` gives a returnee's data key."""
    try:
        parsed = parse_envelope(
            RETURNEE_REGISTERED_V1.topic, record.key, record.value, record.headers
        )
    except EnvelopeError:
        return Copy(record, Outcome.UNREADABLE)
    if not isinstance(parsed.event, ReturneeRegistered):
        return Copy(record, Outcome.ALREADY_SEALED)
    event = seal_registration(
        parsed.event, key_of(parsed.event.returnee_id), event_id=parsed.event_id
    )
    headers = tuple((name, _V2_HEADERS.get(name, value)) for name, value in record.headers)
    return Copy(
        replace(record, value=event.model_dump_json().encode(), headers=headers), Outcome.SEALED
    )
