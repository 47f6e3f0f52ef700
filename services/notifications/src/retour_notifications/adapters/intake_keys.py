"""Data keys from intake's key store (``POST /data-keys``), kept in memory briefly.

A key opens one returnee's sealed personal block (retour_contracts.sealing). It is cached for
at most ``cache_seconds`` (intake's answer, capped by DATA_KEY_CACHE_SECONDS, 60 s at most), so
an erasure, which destroys the key in intake, reaches this process within a minute even before
its event arrives; the event itself drops the key at once (``forget``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID, uuid4

from pydantic import SecretStr

from retour_contracts.sealing import decode_key
from retour_kit.auth import Role, issue_dev_token
from retour_kit.consuming import TransientError
from retour_notifications.adapters.http_get import AnswerLostError, http_request
from retour_notifications.usecases.unseal import ERASED, UNMENTIONED

BATCH = 500  # intake's limit per request
_MAX_ANSWER_BYTES = 256 * 1024
SUBJECT = "service:notifications"


class KeyStoreUnavailable(TransientError):
    """Intake's key store did not answer usefully; the batch waits and is tried again (never
    dead-lettered: a registration must not lose its welcome SMS to an outage)."""


@dataclass
class _Cached:
    answer: bytes | str
    until: float


class IntakeDataKeys:
    def __init__(
        self,
        intake_url: str,
        bearer: Callable[[], str],
        *,
        timeout_seconds: float,
        max_cache_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._url = intake_url.rstrip("/") + "/data-keys"
        self._bearer = bearer
        self._timeout = timeout_seconds
        self._max_cache = max_cache_seconds
        self._clock = clock
        self._cache: dict[UUID, _Cached] = {}

    async def keys_of(self, returnee_ids: Collection[UUID]) -> dict[UUID, bytes | str]:
        """Each returnee's key, or why intake refuses it (``erased``, ``unknown``,
        ``not_sealed``; ``unmentioned`` if its answer left the returnee out)."""
        now = self._clock()
        self._drop_expired(now)
        found = {rid: self._cache[rid].answer for rid in returnee_ids if rid in self._cache}
        missing = [rid for rid in dict.fromkeys(returnee_ids) if rid not in found]
        for start in range(0, len(missing), BATCH):
            found.update(await self._fetch(missing[start : start + BATCH], now))
        return found

    def forget(self, returnee_id: UUID) -> None:
        self._cache.pop(returnee_id, None)

    async def _fetch(self, returnee_ids: list[UUID], now: float) -> dict[UUID, bytes | str]:
        body = json.dumps({"returnee_ids": [str(rid) for rid in returnee_ids]}).encode()
        try:
            answer = await http_request(
                "POST",
                self._url,
                time_limit=self._timeout,
                headers={
                    "Authorization": f"Bearer {self._bearer()}",
                    "Content-Type": "application/json",
                    # Required on every POST; intake stores nothing under it for this query.
                    "Idempotency-Key": str(uuid4()),
                },
                body=body,
                max_body_bytes=_MAX_ANSWER_BYTES,
            )
        except (OSError, TimeoutError, AnswerLostError) as error:
            raise KeyStoreUnavailable(f"intake's key store: {type(error).__name__}") from None
        if answer.status != 200:
            # 401/403 is a misconfigured account, 5xx an outage: both are waited out, loudly.
            raise KeyStoreUnavailable(f"intake's key store answered {answer.status}")
        try:
            released = json.loads(answer.body)
            keys: dict[UUID, bytes | str] = {
                UUID(item["returnee_id"]): decode_key(item["key"]) for item in released["keys"]
            }
            keys.update(
                {UUID(item["returnee_id"]): str(item["reason"]) for item in released["refused"]}
            )
            ttl = min(float(released["cache_seconds"]), self._max_cache)
        except (ValueError, KeyError, TypeError):
            raise KeyStoreUnavailable("intake's key store sent an unreadable answer") from None
        for rid in returnee_ids:
            given = keys.setdefault(rid, UNMENTIONED)
            # Keys, and erasures (final), are remembered; any other refusal is asked again.
            if isinstance(given, bytes) or given == ERASED:
                self._cache[rid] = _Cached(given, now + ttl)
        return keys

    def _drop_expired(self, now: float) -> None:
        for rid in [rid for rid, cached in self._cache.items() if cached.until <= now]:
            del self._cache[rid]


def self_signed_bearer(secret: SecretStr) -> Callable[[], str]:
    """Short-lived tokens of the notifications_service role, signed with the local stack's
    AUTH_JWT_SECRET and renewed a minute before they expire."""
    ttl = timedelta(minutes=10)
    current: list[tuple[str, float]] = []

    def bearer() -> str:
        if not current or current[0][1] - time.monotonic() < 60:
            token = issue_dev_token(secret, Role.NOTIFICATIONS_SERVICE, subject=SUBJECT, ttl=ttl)
            current[:] = [(token, time.monotonic() + ttl.total_seconds())]
        return current[0][0]

    return bearer
