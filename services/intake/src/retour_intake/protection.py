"""erase_returnee and change_consents: the use cases of a person's rights over their data.

Each runs in the caller's transaction (the unit of work it is given, which also holds the
request's Idempotency-Key) with the event it publishes (through the outbox) and its record in
the access log: the tombstone, the event that makes every other service forget, and the trace
of who did it commit together or not at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from retour_contracts import ConsentChanged, ErasureReason, ReturneeErased
from retour_intake.domain.protection import (
    ChangeConsents,
    EraseReturnee,
    ReturneeErasedAlready,
    ReturneeNotFound,
)


@dataclass(frozen=True)
class Staff:
    """Who asks, from their token: subject, roles, and centres (None: every centre)."""

    subject: str
    roles: Sequence[str]
    centres: list[str] | None


@dataclass(frozen=True)
class Located:
    erased_at: datetime | None
    erasure_reason: str | None
    consents: dict[str, Any]


class ProtectionUnitOfWork(Protocol):
    async def locate(self, returnee_id: UUID, *, centres: list[str] | None) -> Located | None:
        """The returnee, locked until the transaction ends, if within ``centres``."""
        ...

    async def same_person(self, returnee_id: UUID) -> list[UUID]:
        """The person's registrations not erased yet, ``returnee_id`` included: the one it was
        merged into, and every one merged into that (merges never chain), locked."""
        ...

    async def erase(self, returnee_id: UUID, *, reason: ErasureReason, at: datetime) -> None:
        """The tombstone, and the returnee's data key destroyed (crypto-shredding); the
        expected record their registration confirmed loses its personal data and key too."""
        ...

    async def forget_responses(self, returnee_id: UUID) -> int: ...
    async def change_consents(self, returnee_id: UUID, changes: dict[str, bool]) -> None: ...
    async def publish(self, event: ReturneeErased | ConsentChanged) -> None: ...
    async def record_access(
        self, staff: Staff, returnee_id: UUID, *, action: str, fields: Iterable[str]
    ) -> None: ...


@dataclass(frozen=True)
class Erasure:
    returnee_id: UUID
    erased_at: datetime
    reason: str
    already: bool


async def erase_returnee(
    uow: ProtectionUnitOfWork,
    returnee_id: UUID,
    command: EraseReturnee,
    *,
    staff: Staff,
    personal_fields: Iterable[str],
    now: datetime,
) -> Erasure:
    """Erases the person's data, or answers how it was erased if it already was (a retry).

    A person registered twice and merged is one person: every registration of theirs is
    erased, each with its own tombstone, key and event."""
    found = await uow.locate(returnee_id, centres=staff.centres)
    if found is None:
        raise ReturneeNotFound(returnee_id)
    if found.erased_at is not None:
        return Erasure(returnee_id, found.erased_at, found.erasure_reason or "", already=True)
    for registration in await uow.same_person(returnee_id):
        await uow.erase(registration, reason=command.reason, at=now)
        # Stored answers to registration retries hold the person's data: they go too.
        await uow.forget_responses(registration)
        await uow.publish(
            ReturneeErased(returnee_id=registration, erased_at=now, reason=command.reason)
        )
        await uow.record_access(staff, registration, action="erased", fields=personal_fields)
    return Erasure(returnee_id, now, command.reason.value, already=False)


async def change_consents(
    uow: ProtectionUnitOfWork,
    returnee_id: UUID,
    command: ChangeConsents,
    *,
    staff: Staff,
    now: datetime,
) -> dict[str, Any]:
    """Records the new consents and tells the other services; returns the consents now."""
    changes = {k: v for k, v in command.model_dump().items() if v is not None}
    found = await uow.locate(returnee_id, centres=staff.centres)
    if found is None:
        raise ReturneeNotFound(returnee_id)
    if found.erased_at is not None:
        raise ReturneeErasedAlready(returnee_id)
    await uow.change_consents(returnee_id, changes)
    await uow.publish(ConsentChanged(returnee_id=returnee_id, changed_at=now, **changes))
    await uow.record_access(staff, returnee_id, action="changed", fields=command.changed_fields())
    return {**found.consents, **changes}
