"""Intake over HTTP: closed-loop throughput at a fixed concurrency, and open-loop end to end.

Requests go to the running intake service (make up), through uvicorn, its outbox and the relay,
exactly as a registrar's client would. End-to-end latency is from the registration's
`registered_at` (set by intake just before its transaction commits, and returned in the 201)
to the case row's `opened_at` in the reintegration database (the start of the consumer's
transaction): both clocks are the same machine's, and neither depends on how quickly the
load generator itself reads its answers.
"""

from __future__ import annotations

import asyncio
import random
import string
import time
from datetime import datetime
from typing import Any

import asyncpg
import httpx

from bench.common import Stack, Timer, percentile
from retour_kit.auth import issue_dev_token

INTAKE = "http://127.0.0.1:8001"


def _body(rng: random.Random) -> dict[str, Any]:
    name = "".join(rng.choices(string.ascii_lowercase, k=10)).capitalize()
    return {
        "reception_centre": "bamako",
        "arrival_date": "2024-03-02",
        "return_type": "avrr",
        "host_country": "LY",
        "region_of_origin": "kayes",
        "sex": "male",
        "household_size": 3,
        "consents": {"data_processing": True, "sms_contact": False, "partner_sharing": True},
        "personal": {"given_name": name, "family_name": f"Bench{name}"},
        "age_estimate": 30,
    }


def _client(stack: Stack, connections: int) -> httpx.AsyncClient:
    token = issue_dev_token(stack.jwt_secret, "registrar", subject="bench")
    return httpx.AsyncClient(
        base_url=INTAKE,
        headers={"Authorization": f"Bearer {token}"},
        limits=httpx.Limits(max_connections=connections),
        timeout=30,
    )


async def closed_loop(stack: Stack, *, requests: int, concurrency: int) -> dict[str, float]:
    # New people every run: a second run must not meet the first as duplicates (409).
    rng = random.Random()
    bodies = [_body(rng) for _ in range(requests)]
    latencies: list[float] = []
    gate = asyncio.Semaphore(concurrency)
    async with _client(stack, concurrency) as client:

        async def one(body: dict[str, Any]) -> None:
            async with gate:
                started = time.perf_counter()
                response = await client.post("/returnees", json=body)
                latencies.append(time.perf_counter() - started)
                response.raise_for_status()

        with Timer() as timer:
            await asyncio.gather(*(one(body) for body in bodies))
    return {
        "per_second": requests / timer.seconds,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
    }


async def open_loop_end_to_end(stack: Stack, *, rate: float, seconds: float) -> dict[str, float]:
    """Registrations sent at a fixed rate, whatever the answers' speed (no coordinated omission)."""
    rng = random.Random()
    answered: dict[str, datetime] = {}
    async with _client(stack, 256) as client:

        async def one(body: dict[str, Any]) -> None:
            response = await client.post("/returnees", json=body)
            response.raise_for_status()
            record = response.json()
            answered[record["returnee_id"]] = datetime.fromisoformat(record["registered_at"])

        tasks = []
        start = time.perf_counter()
        for n in range(int(rate * seconds)):
            delay = start + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(_body(rng))))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - start
    conn = await asyncpg.connect(stack.dsns["reintegration"])
    try:
        deadline = time.monotonic() + 60
        while True:
            rows = await conn.fetch(
                "SELECT returnee_id::text, opened_at FROM cases"
                " WHERE returnee_id = ANY($1::uuid[])",
                list(answered),
            )
            if len(rows) == len(answered) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
    finally:
        await conn.close()
    latencies = [(row["opened_at"] - answered[row["returnee_id"]]).total_seconds() for row in rows]
    return {
        "achieved_rate": len(answered) / elapsed if elapsed else 0.0,
        "sent": float(len(answered)),
        "cases": float(len(rows)),
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
    }


async def closed_loop_healthz(stack: Stack, *, requests: int, concurrency: int) -> float:
    """The same client and server doing the least work: the HTTP stack's own ceiling."""
    gate = asyncio.Semaphore(concurrency)
    async with _client(stack, concurrency) as client:

        async def one() -> None:
            async with gate:
                (await client.get("/healthz")).raise_for_status()

        with Timer() as timer:
            await asyncio.gather(*(one() for _ in range(requests)))
    return requests / timer.seconds
