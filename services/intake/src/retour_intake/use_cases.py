"""register_returnee: the one write use case of intake, in one transaction."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from retour_contracts import ReturneeRegistered, ReturneeRegisteredV2, seal_registration
from retour_intake.domain.commands import InvalidField, RegisterReturnee
from retour_intake.domain.duplicates import (
    DuplicateAssessment,
    KnownPerson,
    PersonKeys,
    assess_duplicates,
)
from retour_intake.domain.expected import OpenExpected, link_candidate
from retour_intake.domain.registration import Registrar, person_keys, register
from retour_kit.idempotency import StoredResponse, request_fingerprint

REGISTER_PATH = "/returnees"


class RegistrationUnitOfWork(Protocol):
    """One database transaction; leaving the context with an exception rolls it back."""

    async def claim_idempotency_key(self, key: str, fingerprint: str) -> StoredResponse | None: ...
    async def store_response(self, key: str, response: StoredResponse) -> None: ...
    async def lock_identity(self, keys: PersonKeys) -> None: ...
    async def known_people(self, keys: PersonKeys) -> list[KnownPerson]: ...
    async def add(self, event: ReturneeRegistered, keys: PersonKeys) -> None: ...
    async def queue_reviews(
        self, event: ReturneeRegistered, duplicates: DuplicateAssessment, *, reason: str | None
    ) -> None:
        """Weak matches wait for a supervisor's review; a strong match the supervisor
        overrode is kept as decided (by whom, why)."""
        ...

    async def open_expected(self, keys: PersonKeys) -> list[OpenExpected]:
        """The open expected people duplicate detection's rule could match to ``keys``."""
        ...

    async def lock_open_expected(self, expected_id: UUID) -> bool:
        """Locks the expected person until the transaction ends; True if still open."""
        ...

    async def mark_arrived(self, expected_id: UUID, returnee_id: UUID, *, at: datetime) -> None:
        """The expected person arrived: this registration confirmed them."""
        ...

    async def issue_data_key(self, returnee_id: UUID) -> bytes:
        """A new data key for the returnee, kept (wrapped) in intake's key store."""
        ...

    async def publish(
        self, event: ReturneeRegisteredV2, *, event_id: UUID, traceparent: str
    ) -> None: ...
    async def record_access(
        self, registrar: Registrar, returnee_id: UUID, *, created: bool
    ) -> None:
        """The access log: ``registrar`` created, or was shown again (a replay), the person."""


UnitOfWorkFactory = Callable[[], AbstractAsyncContextManager[RegistrationUnitOfWork]]


@dataclass(frozen=True)
class RegistrationResult:
    status: int
    body: Any
    replayed: bool
    event: ReturneeRegistered | None = None
    event_id: UUID | None = None


async def register_returnee(
    start: UnitOfWorkFactory,
    command: RegisterReturnee,
    *,
    registrar: Registrar,
    idempotency_key: str,
    traceparent: str,
    now: Callable[[], datetime],
    new_id: Callable[[], UUID],
) -> RegistrationResult:
    """Register a returnee, or replay the answer to the same request made with the same key
    (``idempotency_key`` is already scoped to the caller).

        Raises DuplicateSuspected (strong match, not confirmed) or IdempotencyKeyReused; both roll
        the transaction back, so nothing of the attempt is kept.
    """
    async with start() as uow:
        fingerprint = request_fingerprint("POST", REGISTER_PATH, command.model_dump(mode="json"))
        stored = await uow.claim_idempotency_key(idempotency_key, fingerprint)
        if stored is not None:
            if stored.status == 201:
                # A replay shows the person's data again: that is a read to record.
                replayed_id = UUID(stored.body["returnee_id"])
                await uow.record_access(registrar, replayed_id, created=False)
            # Otherwise the person was erased since: the 410 shows nothing of them.
            return RegistrationResult(stored.status, stored.body, replayed=True)
        keys = person_keys(command)
        # Two centres registering the same person at the same moment must see each other.
        await uow.lock_identity(keys)
        duplicates = assess_duplicates(keys, await uow.known_people(keys))
        expected_id = await expected_to_link(uow, command, keys)
        event = register(
            command,
            returnee_id=new_id(),
            registered_at=now(),
            duplicates=duplicates,
            registrar=registrar,
            expected_id=expected_id,
        )
        await uow.add(event, keys)
        if expected_id is not None:
            await uow.mark_arrived(expected_id, event.returnee_id, at=event.registered_at)
        reason = command.override_reason.value if command.override_reason else None
        await uow.queue_reviews(event, duplicates, reason=reason)
        await uow.record_access(registrar, event.returnee_id, created=True)
        event_id = new_id()
        # The personal block leaves intake sealed under the returnee's own key, committed with
        # the registration: erasing that key later makes every copy on Kafka unreadable.
        key = await uow.issue_data_key(event.returnee_id)
        sealed = seal_registration(event, key, event_id=str(event_id))
        await uow.publish(sealed, event_id=event_id, traceparent=traceparent)
        body = event.model_dump(mode="json")
        await uow.store_response(idempotency_key, StoredResponse(201, body))
        return RegistrationResult(201, body, replayed=False, event=event, event_id=event_id)


async def expected_to_link(
    uow: RegistrationUnitOfWork, command: RegisterReturnee, keys: PersonKeys
) -> UUID | None:
    """The expected person this registration confirms: the one the registrar named (open, at
    any centre, else InvalidField), or the open one matching strongly, if any.

    The candidate is locked and checked open again: of two registrations matching one expected
    person at once, the second waits for the first to commit, finds them arrived, and simply
    does not link."""
    if command.expected_id is not None:
        if not await uow.lock_open_expected(command.expected_id):
            raise InvalidField("expected_id", "is not an open expected arrival")
        return command.expected_id
    candidate = link_candidate(
        keys, await uow.open_expected(keys), centre=command.reception_centre.value
    )
    if candidate is None or not await uow.lock_open_expected(candidate):
        return None
    return candidate
