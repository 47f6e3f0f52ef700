"""Runs a POST at most once per Idempotency-Key, in the transaction of its effects.

Case workers on poor connections retry. The same key with the same request gives back the
original answer and never a second grant; the same key with another request is refused
(409). Keys are scoped to the caller, so one user's key never replays another user's answer.
A request that fails rolls its key back with everything else: a retry is judged afresh.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Header
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from retour_kit.auth import Principal
from retour_kit.http_errors import ApiError
from retour_kit.idempotency import (
    MAX_KEY_LENGTH,
    IdempotencyKeyReused,
    StoredResponse,
    request_fingerprint,
)
from retour_kit.unit_of_work import UnitOfWork
from retour_reintegration.adapters.unit_of_work import CaseWork

IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=MAX_KEY_LENGTH // 2,  # room for the caller's subject in the stored key
        description="A unique value per intended operation (a UUID); repeat it on retries.",
    ),
]

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
    scoped_key = f"{principal.subject}:{key}"
    fingerprint = request_fingerprint("POST", path, command.model_dump(mode="json"))
    async with work.transaction() as adapters:
        try:
            earlier = await adapters.idempotency_keys.claim(scoped_key, fingerprint)
        except IdempotencyKeyReused:
            raise ApiError(
                409,
                "idempotency_key_reused",
                "this Idempotency-Key was already used for a different request",
            ) from None
        if earlier is not None:
            return JSONResponse(
                earlier.body, status_code=earlier.status, headers={"Idempotent-Replayed": "true"}
            )
        status, body = await action(adapters)
        await adapters.idempotency_keys.store(scoped_key, StoredResponse(status=status, body=body))
    return JSONResponse(body, status_code=status)
