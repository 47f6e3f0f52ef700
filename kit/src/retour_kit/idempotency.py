"""Idempotency-Key for POST requests, stored in the same transaction as the request's effects.

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
from dataclasses import dataclass
from typing import Any

from retour_kit.db import Connection

MAX_KEY_LENGTH = 200


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


class PgIdempotencyKeys:
    """The keys of one unit of work's connection (retour_kit.unit_of_work)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def claim(self, key: str, fingerprint: str) -> StoredResponse | None:
        return await claim_key(self._conn, key, fingerprint)

    async def store(self, key: str, response: StoredResponse) -> None:
        await store_response(self._conn, key, response)
