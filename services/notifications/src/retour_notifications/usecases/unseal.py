"""Opening the sealed personal blocks of a batch before recording: those of returnee.registered
v2, and those of returnee.updated when the phone changed (notifications needs nothing else of
the block; domain/corrections.py).

Notifications is entitled to a returnee's data key for as long as the person is not erased.
A key refused because the person was erased means their registration, or their update,
records nothing, exactly as for a person already forgotten here (their erasure event, on its
own topic, may well come later). Any other refusal (intake knows no such person, or holds no
key for them: a registration from another intake, a key lost with a master key) is not the
person's choice: the event fails like a broken one, after bounded retries, into the
dead-letter topic with the reason, for an operator to look at; it is never dropped in silence.
So does a block that does not open with its key.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Protocol
from uuid import UUID

import structlog

from retour_contracts import (
    ActivityLaunched,
    AidGranted,
    ConsentChanged,
    ParsedEvent,
    ReturneeErased,
    ReturneeMerged,
    ReturneeRegistered,
    ReturneeRegisteredV2,
    ReturneeUpdated,
    open_registration,
    open_update,
)
from retour_notifications.domain.corrections import OpenedUpdate, needs_personal_block
from retour_notifications.domain.follow_ups import FollowUpEvent
from retour_notifications.usecases.forget import Consumed

log = structlog.stdlib.get_logger(__name__)


ERASED = "erased"
"""Intake's refusal of an erased returnee's key: the one refusal that is the person's choice."""
UNMENTIONED = "unmentioned"
"""What stands for a returnee the key store's answer left out."""


class DataKeyRefusedError(Exception):
    """Intake refuses a returnee's key for another reason than their erasure. The message
    names the returnee's id and the reason, nothing of the person."""


class DataKeys(Protocol):
    async def keys_of(self, returnee_ids: Collection[UUID]) -> dict[UUID, bytes | str]:
        """Each returnee's key, or the reason intake refuses it."""
        ...

    def forget(self, returnee_id: UUID) -> None: ...


async def opened(batch: Sequence[ParsedEvent], keys: DataKeys) -> list[Consumed]:
    """The batch with every sealed block it needs opened, and the events whose key is refused
    because the person was erased left out. Keys of erased returnees are dropped from memory
    as their erasure goes by."""
    for parsed in batch:
        if isinstance(parsed.event, ReturneeErased):
            keys.forget(parsed.event.returnee_id)
    sealed = {rid for p in batch if (rid := _sealed_for(p.event)) is not None}
    found = await keys.keys_of(sealed) if sealed else {}
    result: list[Consumed] = []
    for parsed in batch:
        event, event_id = parsed.event, UUID(parsed.event_id)
        # Each block was sealed for its own event id, as it travels (ce_id).
        if isinstance(event, ReturneeRegisteredV2):
            key = _usable_key(found, event.returnee_id, parsed)
            if key is not None:
                registration = open_registration(event, key, event_id=parsed.event_id)
                result.append(Consumed(registration, event_id, parsed.time))
        elif isinstance(event, ReturneeUpdated):
            personal = None
            if needs_personal_block(event):
                key = _usable_key(found, event.returnee_id, parsed)
                if key is None:
                    continue
                personal = open_update(event, key, event_id=parsed.event_id)
            result.append(Consumed(OpenedUpdate(event, personal), event_id, parsed.time))
        elif isinstance(
            event,
            ReturneeRegistered
            | AidGranted
            | ActivityLaunched
            | ReturneeErased
            | ConsentChanged
            | ReturneeMerged
            | FollowUpEvent,  # no personal data: nothing to open
        ):
            result.append(Consumed(event, event_id, parsed.time))
        else:
            # An event main.py does not subscribe to: it cannot be read here, and if it ever
            # were, it must fail loudly (dead-lettered) rather than be dropped in silence.
            raise TypeError(f"notifications does not consume {parsed.type}")
    return result


def _sealed_for(event: object) -> UUID | None:
    """The returnee whose key opens what notifications needs of ``event``, if anything."""
    if isinstance(event, ReturneeRegisteredV2):
        return event.returnee_id
    if isinstance(event, ReturneeUpdated) and needs_personal_block(event):
        return event.returnee_id
    return None


def _usable_key(
    found: dict[UUID, bytes | str], returnee_id: UUID, parsed: ParsedEvent
) -> bytes | None:
    """The key that opens the event's block; None when the person was erased (the event is
    then skipped); DataKeyRefusedError for any other refusal."""
    key = found.get(returnee_id, UNMENTIONED)
    if key == ERASED:
        log.info(
            "event skipped: the returnee was erased",
            event_type=parsed.spec.topic,
            returnee_id=str(returnee_id),
            event_id=parsed.event_id,
        )
        return None
    if not isinstance(key, bytes):
        raise DataKeyRefusedError(f"intake refuses the data key of returnee {returnee_id}: {key}")
    return key
