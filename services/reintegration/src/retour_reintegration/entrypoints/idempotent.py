"""Runs a POST at most once per Idempotency-Key, in the transaction of its effects.

Case workers on poor connections retry. The same key with the same request gives back the
original answer and never a second grant; the same key with another request is refused
(409); no key at all is refused before anything is done (428). Keys are scoped to the caller,
so one user's key never replays another user's answer. A request that fails rolls its key back
with everything else: a retry is judged afresh (retour_kit.idempotency).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel

from retour_kit import idempotency
from retour_kit.auth import Principal
from retour_kit.idempotency import RequiredIdempotencyKey
from retour_kit.unit_of_work import UnitOfWork
from retour_reintegration.adapters.unit_of_work import CaseWork

IdempotencyKey = RequiredIdempotencyKey

Action = Callable[[CaseWork], Awaitable[tuple[int, Any]]]
"""Performs the request in the given unit of work; returns the status and the JSON body."""


async def respond_once(
    work: UnitOfWork[CaseWork],
    *,
    key: str,
    principal: Principal,
    path: str,
    command: BaseModel,
    action: Action,
) -> JSONResponse:
    async with work.transaction() as adapters:
        return await idempotency.respond_once(
            adapters,
            key=key,
            subject=principal.subject,
            method="POST",
            path=path,
            body=command.model_dump(mode="json"),
            action=action,
        )
