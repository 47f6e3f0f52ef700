"""Opening the sealed personal blocks of a batch (returnee.registered v2) before recording.

Notifications is entitled to a returnee's data key for as long as the person is not erased.
A key intake refuses means the person was erased (or is unknown to it): their registration
then records nothing, exactly as for a person already forgotten here, and their erasure event,
on its own topic, may well arrive later. A block that does not open with its key is a broken
event and fails like any other (bounded retries, then the dead-letter topic).
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


class DataKeys(Protocol):
    async def keys_of(self, returnee_ids: Collection[UUID]) -> dict[UUID, bytes | None]: ...
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
        key = found.get(event.returnee_id)
        if key is None:
            log.info(
                "registration skipped: its data key is refused",
                returnee_id=str(event.returnee_id),
                event_id=parsed.event_id,
            )
            continue
        # The block was sealed for this event id, as it travels (ce_id).
        registration = open_registration(event, key, event_id=parsed.event_id)
        result.append(Consumed(registration, event_id, parsed.time))
    return result
