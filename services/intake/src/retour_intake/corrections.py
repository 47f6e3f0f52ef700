"""correct_registration: staff correct a registration, or transfer the person to another centre.

Runs in the caller's transaction (which also holds the request's Idempotency-Key): the
registration's row is locked, its version compared with the one the client read (optimistic
concurrency: of two corrections made from the same version, the second waits for the first to
commit, then finds the version moved on and changes nothing), and the revised registration,
its ``returnee.updated`` in the outbox and the access log commit together or not at all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol
from uuid import UUID

from retour_contracts import ReturneeRegistered, ReturneeUpdated, SealedPersonal
from retour_contracts.sealing import UPDATED, seal_personal
from retour_intake.domain.commands import RegisterReturnee
from retour_intake.domain.corrections import (
    CorrectRegistration,
    Revision,
    as_entered,
    merged,
    personal_changed,
    revise,
    updated_event,
)
from retour_intake.domain.duplicates import KnownPerson, PersonKeys, assess_duplicates
from retour_intake.domain.protection import ReturneeErasedAlready, ReturneeNotFound
from retour_intake.domain.registration import DuplicateSuspected, person_keys
from retour_intake.protection import Staff


@dataclass(frozen=True)
class Current:
    registration: ReturneeRegistered | None
    """None once erased (the tombstone has no personal block to correct)."""
    version: int
    merged_into: UUID | None = None


class MergedAway(Exception):
    """The registration was merged into another: the person is corrected there."""

    def __init__(self, merged_into: UUID) -> None:
        super().__init__(f"merged into {merged_into}")
        self.merged_into = merged_into


class StaleVersion(Exception):
    """The registration changed since the client read it."""

    def __init__(self, current: int) -> None:
        super().__init__(f"the registration is at version {current}")
        self.current = current


class CorrectionUnitOfWork(Protocol):
    async def lock_for_correction(
        self, returnee_id: UUID, *, centres: list[str] | None
    ) -> Current | None:
        """The registration, locked until the transaction ends, if within ``centres``."""
        ...

    async def lock_identity(self, keys: PersonKeys) -> None: ...
    async def known_people(self, keys: PersonKeys) -> list[KnownPerson]: ...
    async def revise(
        self, registration: ReturneeRegistered, keys: PersonKeys, *, version: int
    ) -> None: ...
    async def data_key(self, returnee_id: UUID) -> bytes:
        """The returnee's data key; issued now for a registration made before keys existed."""
        ...

    async def publish_update(
        self, event: ReturneeUpdated, *, event_id: UUID, traceparent: str
    ) -> None: ...
    async def record_correction(
        self, staff: Staff, returnee_id: UUID, *, changed: list[str]
    ) -> None: ...


@dataclass(frozen=True)
class Corrected:
    registration: ReturneeRegistered
    version: int
    event: ReturneeUpdated | None = None
    """None when the patch changed nothing (no new version, nothing published)."""


async def correct_registration(
    uow: CorrectionUnitOfWork,
    returnee_id: UUID,
    correction: CorrectRegistration,
    *,
    expected_version: int,
    staff: Staff,
    programme_start: date,
    now: datetime,
    new_id: Callable[[], UUID],
    traceparent: str,
) -> Corrected:
    """Raises ReturneeNotFound, ReturneeErasedAlready, MergedAway, StaleVersion, pydantic's
    ValidationError or InvalidField (the corrected registration is invalid), or
    DuplicateSuspected (the correction makes the person a strong match of someone else)."""
    found = await uow.lock_for_correction(returnee_id, centres=staff.centres)
    if found is None:
        raise ReturneeNotFound(returnee_id)
    if found.registration is None:
        raise ReturneeErasedAlready(returnee_id)
    if found.merged_into is not None:
        raise MergedAway(found.merged_into)
    if found.version != expected_version:
        raise StaleVersion(found.version)
    command = RegisterReturnee.model_validate(
        merged(as_entered(found.registration), correction.patch())
    )
    command.check_arrival_in_programme(programme_start)
    revision = revise(found.registration, command)
    if not revision.changed:
        return Corrected(found.registration, found.version)
    keys = person_keys(command)
    if revision.identity_changed:
        await _refuse_new_strong_duplicates(uow, found.registration, keys)
    version = found.version + 1
    await uow.revise(revision.registration, keys, version=version)
    event_id = new_id()
    event = updated_event(
        revision,
        version=version,
        at=now,
        by=staff.subject,
        reason=correction.reason,
        sealed_personal=await _sealed(uow, revision, event_id),
    )
    await uow.publish_update(event, event_id=event_id, traceparent=traceparent)
    await uow.record_correction(staff, returnee_id, changed=[f.value for f in revision.changed])
    return Corrected(revision.registration, version, event)


async def _refuse_new_strong_duplicates(
    uow: CorrectionUnitOfWork, current: ReturneeRegistered, keys: PersonKeys
) -> None:
    """Refuses a correction that makes the person a strong match of someone they did not
    match before. Matches they had already (flagged at registration, or a namesake a
    supervisor let through) were decided then: a new phone must not reopen them."""
    # The same lock as registration's: a registration and a correction that make the same
    # person at the same moment see each other.
    await uow.lock_identity(keys)
    others = [p for p in await uow.known_people(keys) if p.returnee_id != current.returnee_id]
    before = person_keys(RegisterReturnee.model_validate(as_entered(current)))
    known = set(assess_duplicates(before, others).strong) | set(current.possible_duplicate_of)
    new = tuple(m for m in assess_duplicates(keys, others).strong if m not in known)
    if new:
        raise DuplicateSuspected(new)


async def _sealed(
    uow: CorrectionUnitOfWork, revision: Revision, event_id: UUID
) -> SealedPersonal | None:
    if not personal_changed(revision.changed):
        return None
    key = await uow.data_key(revision.registration.returnee_id)
    return seal_personal(
        revision.registration.personal, key, event_id=str(event_id), event_name=UPDATED
    )
