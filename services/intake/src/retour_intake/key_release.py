"""release_data_keys: a service or partner obtains the keys of the returnees it is entitled to,
each release recorded in the access log in the same transaction (who obtained whose key)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from retour_intake.domain.key_release import KeyHolder, KeyRefusal, refusal
from retour_intake.protection import Staff


class KeyReleaseUnitOfWork(Protocol):
    async def holders(
        self, returnee_ids: Sequence[UUID], *, centres: list[str] | None
    ) -> list[KeyHolder]: ...
    async def keys(self, returnee_ids: Sequence[UUID]) -> dict[UUID, bytes]: ...
    async def record_release(self, requester: Staff, returnee_ids: Sequence[UUID]) -> None: ...


Start = Callable[[], AbstractAsyncContextManager[KeyReleaseUnitOfWork]]


@dataclass(frozen=True)
class Release:
    keys: dict[UUID, bytes]
    refused: dict[UUID, KeyRefusal]


async def release_data_keys(
    start: Start, returnee_ids: Sequence[UUID], *, requester: Staff, for_partner: bool
) -> Release:
    wanted = list(dict.fromkeys(returnee_ids))  # each once, in the order asked
    async with start() as uow:
        holders = {h.returnee_id: h for h in await uow.holders(wanted, centres=requester.centres)}
        refused: dict[UUID, KeyRefusal] = {}
        for returnee_id in wanted:
            reason = refusal(holders.get(returnee_id), for_partner=for_partner)
            if reason is not None:
                refused[returnee_id] = reason
        entitled = [returnee_id for returnee_id in wanted if returnee_id not in refused]
        keys = await uow.keys(entitled) if entitled else {}
        # The holders' rows are locked (FOR SHARE) so an erasure waits for this release; a key
        # gone anyway is refused rather than left unexplained.
        for returnee_id in entitled:
            if returnee_id not in keys:
                refused[returnee_id] = refusal(None, for_partner=for_partner) or KeyRefusal.UNKNOWN
        await uow.record_release(requester, list(keys))
        return Release(keys=keys, refused=refused)
