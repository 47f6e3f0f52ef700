"""A small HTTP client for the public APIs, as any integrating system would write it.

Every POST and PATCH carries an Idempotency-Key derived from the scenario, so a request
retried after a timeout, or a whole demo run again with the same seed, never creates anything
twice.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt

from retour_demo.scenario import CENTRES

RETRYABLE = {502, 503, 504}


@dataclass(frozen=True)
class Endpoints:
    intake: str = "http://127.0.0.1:8001"
    reintegration: str = "http://127.0.0.1:8002"
    notifications: str = "http://127.0.0.1:8003"
    reporting: str = "http://127.0.0.1:8004"


def dev_token(
    secret: str, role: str, *, subject: str | None = None, centres: list[str] | None = None
) -> str:
    """What `make token ROLE=...` prints: an HS256 token for the local stack only, for a
    person who works at every reception centre the demo registers at (or at ``centres``)."""
    now = datetime.now(UTC)
    claims = {
        "sub": subject or f"demo-{role}",
        "roles": [role],
        # The audience of retour's APIs, which the local stack checks (AUTH_AUDIENCE).
        "aud": "retour-api",
        "centres": sorted(centres or CENTRES),
        "iat": now,
        "exp": now + timedelta(hours=4),
    }
    return jwt.encode(claims, secret, algorithm="HS256")


class ApiClient:
    def __init__(self, base_url: str, token: str, *, concurrency: int = 16) -> None:
        self.base_url = base_url
        self._http = httpx.AsyncClient(
            base_url=base_url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=httpx.Timeout(30.0),
            limits=httpx.Limits(max_connections=concurrency),
        )

    async def close(self) -> None:
        await self._http.aclose()

    async def post(self, path: str, body: Any, *, key: str) -> httpx.Response:
        return await self._send("POST", path, json=body, headers={"Idempotency-Key": key})

    async def post_csv(
        self, path: str, text: str, *, key: str, params: dict[str, str]
    ) -> httpx.Response:
        headers = {"Idempotency-Key": key, "Content-Type": "text/csv; charset=utf-8"}
        return await self._send("POST", path, content=text.encode(), params=params, headers=headers)

    async def patch(
        self, path: str, body: Any, *, key: str, etag: str | None = None
    ) -> httpx.Response:
        headers = {"Idempotency-Key": key, **({"If-Match": etag} if etag else {})}
        return await self._send("PATCH", path, json=body, headers=headers)

    async def get(self, path: str, **params: Any) -> httpx.Response:
        return await self._send("GET", path, params=params)

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        # A busy or restarting service answers 503 or drops the connection: try again a few
        # times. The idempotency key makes a retried POST or PATCH safe.
        for attempt in range(6):
            try:
                response = await self._http.request(method, path, **kwargs)
            except httpx.TransportError:
                if attempt == 5:
                    raise
            else:
                if response.status_code not in RETRYABLE or attempt == 5:
                    return response
            await asyncio.sleep(0.2 * 2**attempt)
        raise AssertionError("unreachable")
