"""Opening the sealed personal blocks of a batch (returnee.registered v2) before recording.

Notifications is entitled to a returnee's data key for as long as the person is not erased.
A key refused because the person was erased means their registration records nothing, exactly
as for a person already forgotten here (their erasure event, on its own topic, may well come
later). Any other refusal (intake knows no such person, or holds no key for them: a
registration from another intake, a key lost with a master key) is not the person's choice:
the event fails like a broken one, after bounded retries, into the dead-letter topic with the
reason, for an operator to look at; it is never dropped in silence. So does a block that does
not open with its key.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Protocol
from uuid import UUID

import structlog

from retour_contracts import (
    ParsedEvent,
    ReturneeErased,
    ReturneeRegisteredV2,
    open_registration,
)
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
    """The batch with every sealed registration opened, and those whose key is refused left
    out. Keys of erased returnees are dropped from memory as their erasure goes by."""
    for parsed in batch:
        if isinstance(parsed.event, ReturneeErased):
            keys.forget(parsed.event.returnee_id)
    sealed = {p.event.returnee_id for p in batch if isinstance(p.event, ReturneeRegisteredV2)}
    found = await keys.keys_of(sealed) if sealed else {}
    result: list[Consumed] = []
    for parsed in batch:
        event, event_id = parsed.event, UUID(parsed.event_id)
        if not isinstance(event, ReturneeRegisteredV2):
            result.append(Consumed(event, event_id, parsed.time))
            continue
        key = found.get(event.returnee_id, UNMENTIONED)
        if key == ERASED:
            log.info(
                "registration skipped: the returnee was erased",
                returnee_id=str(event.returnee_id),
                event_id=parsed.event_id,
            )
            continue
        if not isinstance(key, bytes):
            raise DataKeyRefusedError(
                f"intake refuses the data key of returnee {event.returnee_id}: {key}"
            )
        # The block was sealed for this event id, as it travels (ce_id).
        registration = open_registration(event, key, event_id=parsed.event_id)
        result.append(Consumed(registration, event_id, parsed.time))
    return result
