"""Real load through intake's HTTP API: registrations of fictitious people with SMS consent
(so every one of them is owed exactly one welcome SMS), and corrections that give a person
several events in a known order."""

from __future__ import annotations

import asyncio
import random
import string
import time
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

import httpx

from drills.stack import Stack
from retour_demo.people import mali_mobile
from retour_kit.auth import issue_dev_token

# A registration is retried with its own Idempotency-Key until intake acknowledges it (201) or
# this long has passed: a drill counts as lost only what intake acknowledged.
ACKNOWLEDGE_WITHIN_SECONDS = 120.0
RETRY_PAUSE_SECONDS = 0.5
FAMILY_NAMES = ("Traoré", "Diarra", "Coulibaly", "Keïta", "Koné", "Diallo", "Touré", "Camara")


def registration_body(rng: random.Random) -> dict[str, Any]:
    return {
        "reception_centre": rng.choice(["bamako", "kayes", "gao"]),
        "arrival_date": "2026-11-02",
        "return_type": "avrr",
        "host_country": "LY",
        "region_of_origin": "kayes",
        "sex": rng.choice(["male", "female"]),
        "household_size": rng.randint(1, 8),  # corrections set 21 and up
        "preferred_language": "fr",
        "consents": {"data_processing": True, "sms_contact": True, "partner_sharing": True},
        "personal": {
            "given_name": "".join(rng.choices(string.ascii_lowercase, k=9)).capitalize(),
            "family_name": rng.choice(FAMILY_NAMES),
            "phone": mali_mobile(rng),
        },
        "age_estimate": rng.randint(18, 60),
    }


@dataclass
class Acknowledged:
    """What intake acknowledged: returnee ids in order, and each one's latest version."""

    returnees: list[str] = field(default_factory=list)
    versions: dict[str, int] = field(default_factory=dict)
    refused: int = 0


class Registrar:
    def __init__(
        self,
        stack: Stack,
        *,
        seed: int | None = None,
        concurrency: int = 8,
        base_url: str | None = None,
    ) -> None:
        token = issue_dev_token(stack.value("AUTH_JWT_SECRET"), "registrar", subject="drills")
        self._http = httpx.AsyncClient(
            base_url=base_url or stack.url("intake"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=httpx.Timeout(15.0),
            limits=httpx.Limits(max_connections=concurrency),
        )
        self._rng = random.Random(seed)
        self._slots = asyncio.Semaphore(concurrency)
        self.acknowledged = Acknowledged()

    async def close(self) -> None:
        await self._http.aclose()

    async def register(self) -> str | None:
        body = registration_body(self._rng)
        answer = await self._send("POST", "/returnees", body)
        if answer is None:
            return None
        returnee_id = str(answer.json()["returnee_id"])
        self.acknowledged.returnees.append(returnee_id)
        self.acknowledged.versions[returnee_id] = 1
        return returnee_id

    async def correct(self, returnee_id: str) -> None:
        """A new household size (never the current one): one more `returnee.updated`."""
        version = self.acknowledged.versions[returnee_id]
        body = {"household_size": 20 + version, "reason": "new_information"}
        answer = await self._send(
            "PATCH", f"/returnees/{returnee_id}", body, if_match=f'"{version}"'
        )
        if answer is not None:
            self.acknowledged.versions[returnee_id] = int(answer.headers["ETag"].strip('W/"'))

    async def wave(self, count: int) -> list[str]:
        """`count` registrations at once, as a reception centre's busload arrives."""
        ids = await asyncio.gather(*(self.register() for _ in range(count)))
        return [returnee for returnee in ids if returnee is not None]

    async def steady(self, seconds: float, per_second: float) -> None:
        """Registrations at a fixed rate for `seconds`, whatever the answers' speed."""
        started = time.monotonic()
        tasks: list[asyncio.Task[str | None]] = []
        n = 0
        while (due := started + n / per_second) < started + seconds:
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            tasks.append(asyncio.create_task(self.register()))
            n += 1
        await asyncio.gather(*tasks)

    async def _send(
        self, method: str, path: str, body: dict[str, Any], *, if_match: str | None = None
    ) -> httpx.Response | None:
        # One key for every attempt: a retry after a lost answer replays the first one.
        headers = {"Idempotency-Key": str(uuid.uuid4())}
        if if_match:
            headers["If-Match"] = if_match
        deadline = time.monotonic() + ACKNOWLEDGE_WITHIN_SECONDS
        async with self._slots:
            while time.monotonic() < deadline:
                try:
                    answer = await self._http.request(method, path, json=body, headers=headers)
                except httpx.TransportError:
                    answer = None
                if answer is not None and answer.status_code < 300:
                    return answer
                if answer is not None and answer.status_code < 500:
                    self.acknowledged.refused += 1
                    return None
                await asyncio.sleep(RETRY_PAUSE_SECONDS)
        self.acknowledged.refused += 1
        return None


async def alongside(load: Awaitable[None], fault: Awaitable[float]) -> float:
    """Runs the load and the fault together; the fault's answer is when it was cleared."""
    _, cleared = await asyncio.gather(load, fault)
    return cleared
