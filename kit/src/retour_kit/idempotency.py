"""Idempotency-Key for POST and PATCH requests, stored in the same transaction as the
request's effects.

Every POST and PATCH of every service requires the header (428 without it: a client that
forgets it on a poor connection would create a second person or a second grant on its first
retry). Keys are scoped to the caller (``scoped_key``): one user's key never replays another
user's answer.

Registrars on poor connections retry: the same key with the same request must give back the
original response and never a second effect; the same key with a different request is a client
bug and gets 409. The key row is inserted at the start of the transaction that performs the
effect, so
- two concurrent requests with one key serialise on the primary key: the second waits for the
  first to commit, then replays its response (or proceeds, if the first rolled back);
- a request that fails (4xx, crash) rolls its key back with everything else, and a retry is
  evaluated afresh.

Each service that uses it has the kit's `idempotency_keys` table (retour_kit/tables/) in its own
schema: its migrations package declares it, `KIT_TABLES = (..., "idempotency_keys")`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Protocol, TypeVar

from fastapi import Depends, Header
from fastapi.responses import JSONResponse

from retour_kit.db import Connection
from retour_kit.http_errors import ApiError
from retour_kit.problems import stored_answer

MAX_KEY_LENGTH = 200
HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: Any


class IdempotencyKeyReused(Exception):
    """The key was used before for a different request."""


def request_fingerprint(method: str, path: str, body: Any) -> str:
    """A digest of what the request asks for; key order and whitespace do not matter."""
    canonical = json.dumps([method.upper(), path, body], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


async def claim_key(conn: Connection, key: str, fingerprint: str) -> StoredResponse | None:
    """Claim `key` inside the caller's transaction.

    Returns None when the request is new (go on and call `store_response` before committing),
    or the stored response of the earlier identical request. Raises IdempotencyKeyReused when
    the key belongs to a different request.
    """
    inserted = await conn.fetchval(
        "INSERT INTO idempotency_keys (key, fingerprint) VALUES ($1, $2) "
        "ON CONFLICT (key) DO NOTHING RETURNING true",
        key,
        fingerprint,
    )
    if inserted:
        return None
    row = await conn.fetchrow(
        "SELECT fingerprint, status, body FROM idempotency_keys WHERE key = $1", key
    )
    if row is None or row["fingerprint"] != fingerprint:
        raise IdempotencyKeyReused(key)
    return StoredResponse(status=row["status"], body=row["body"])


async def store_response(conn: Connection, key: str, response: StoredResponse) -> None:
    await conn.execute(
        "UPDATE idempotency_keys SET status = $2, body = $3 WHERE key = $1",
        key,
        response.status,
        response.body,
    )


def scoped_key(subject: str, key: str) -> str:
    """The stored key: the caller's subject and their key (two users may pick the same)."""
    return f"{subject}:{key}"


def required_idempotency_key(
    key: Annotated[
        str | None,
        Header(
            alias=HEADER,
            max_length=MAX_KEY_LENGTH // 2,  # room for the caller's subject in the stored key
            description="Required. A unique value per intended operation (a UUID); repeat it"
            " on retries: the same key and request give back the first answer.",
        ),
    ] = None,
) -> str:
    # Optional in the signature so that a missing header is our 428, not FastAPI's 422.
    if key is None or not key.strip():
        raise ApiError(
            428,
            "idempotency_key_required",
            f"header.{HEADER}: every POST and PATCH needs one (a new UUID per operation,"
            " the same on its retries)",
            extra={"field": f"header.{HEADER}"},
        )
    return key


RequiredIdempotencyKey = Annotated[str, Depends(required_idempotency_key)]
"""A route parameter: the caller's Idempotency-Key, or 428 before anything else is done."""


def key_reused() -> ApiError:
    return ApiError(
        409,
        "idempotency_key_reused",
        "this Idempotency-Key was already used for a different request",
    )


def replayed(earlier: StoredResponse, headers: dict[str, str] | None = None) -> JSONResponse:
    return stored_answer(earlier.status, earlier.body, {**(headers or {}), REPLAYED_HEADER: "true"})


class IdempotencyKeys(Protocol):
    async def claim(self, key: str, fingerprint: str) -> StoredResponse | None: ...
    async def store(self, key: str, response: StoredResponse) -> None: ...


class KeepsIdempotencyKeys(Protocol):
    """Bound adapters of a unit of work that include the service's idempotency keys."""

    @property
    def idempotency_keys(self) -> IdempotencyKeys: ...


W = TypeVar("W", bound=KeepsIdempotencyKeys)


async def respond_once(
    adapters: W,
    *,
    key: str,
    subject: str,
    method: str,
    path: str,
    body: Any,
    action: Callable[[W], Awaitable[tuple[int, Any]]],
    headers: Callable[[Any], dict[str, str]] | None = None,
    on_replay: Callable[[W, StoredResponse], Awaitable[None]] | None = None,
) -> JSONResponse:
    """Runs ``action`` at most once per caller and key, inside the caller's open transaction
    (``adapters`` are bound to it): the key, the effects and the stored answer commit together,
    and an action that raises rolls its key back, so a retry is judged afresh.

    ``headers`` derives response headers from the answer's body, for the first answer and its
    replays alike (an ETag); ``on_replay`` runs when an earlier answer is given back (a replay
    that shows a person's data again is recorded in the access log)."""
    scoped = scoped_key(subject, key)
    try:
        earlier = await adapters.idempotency_keys.claim(
            scoped, request_fingerprint(method, path, body)
        )
    except IdempotencyKeyReused:
        raise key_reused() from None
    if earlier is not None:
        if on_replay is not None:
            await on_replay(adapters, earlier)
        return replayed(earlier, headers(earlier.body) if headers else None)
    status, answer = await action(adapters)
    await adapters.idempotency_keys.store(scoped, StoredResponse(status=status, body=answer))
    return JSONResponse(answer, status_code=status, headers=headers(answer) if headers else None)


class PgIdempotencyKeys:
    """The keys of one unit of work's connection (retour_kit.unit_of_work)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def claim(self, key: str, fingerprint: str) -> StoredResponse | None:
        return await claim_key(self._conn, key, fingerprint)

    async def store(self, key: str, response: StoredResponse) -> None:
        await store_response(self._conn, key, response)
