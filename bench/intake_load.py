"""Intake over HTTP: closed-loop throughput at a fixed concurrency, and open-loop end to end.

Requests go to the running intake service (make up), through uvicorn, its outbox and the relay,
exactly as a registrar's client would. The closed loop is driven by wrk (C, one thread), so the
load generator takes little of the 2 cores from the service. End-to-end latency runs from the
registration's `registered_at` (set by intake just before its transaction commits, returned in
the 201) to the start of the downstream transaction that made it visible: the case's
`opened_at` in reintegration and the event's `processed_at` in reporting's inbox (the same
transaction as its projection rows). All clocks are the same machine's, and none depends on
how quickly the load generator reads its answers.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import string
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

from bench.common import Stack, percentile
from bench.http_client import HttpConnections
from retour_contracts import RETURNEE_REGISTERED_V1
from retour_kit.auth import issue_dev_token
from retour_kit.kafka_security import kafka_options
from retour_kit.topic_reading import committed_ends

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


WRK_SCRIPT = Path(__file__).parent / "wrk" / "intake.lua"
REGISTERED = RETURNEE_REGISTERED_V1.topic


async def closed_loop(
    stack: Stack,
    *,
    mode: str,
    seconds: float,
    connections: int = 32,
    url: str = INTAKE,
    options: dict[str, str] | None = None,
) -> dict[str, float]:
    """wrk against intake: `mode` is "register" (POST /returnees), "namesakes" (the same with
    common names, `options` giving them: bench/wrk/intake.lua) or "healthz" (the baseline)."""
    wrk = os.environ.get("RETOUR_WRK") or shutil.which("wrk") or "/usr/bin/wrk"
    token = issue_dev_token(stack.jwt_secret, "registrar", subject="bench")
    process = await asyncio.create_subprocess_exec(
        wrk,
        "-t1",
        f"-c{connections}",
        f"-d{seconds:.0f}s",
        "--timeout=30s",
        f"-s{WRK_SCRIPT}",
        url,
        env={
            **os.environ,
            **(options or {}),
            "RETOUR_WRK_MODE": mode,
            "RETOUR_BENCH_TOKEN": token,
        },
        stdout=asyncio.subprocess.PIPE,
    )
    output, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"wrk failed with exit code {process.returncode}")
    result = json.loads(output.decode().strip().splitlines()[-1])
    if result["non_2xx"] or result["socket_errors"]:
        # A benchmark that counted refusals or errors as throughput would flatter the service.
        raise RuntimeError(f"intake {mode}: {result['non_2xx']} non-2xx answers, {result}")
    return {
        "per_second": result["requests"] / (result["duration_us"] / 1e6),
        "p50_ms": result["p50_us"] / 1000,
        "p99_ms": result["p99_us"] / 1000,
    }


async def open_loop_end_to_end(stack: Stack, *, rate: float, seconds: float) -> dict[str, float]:
    """Registrations sent at a fixed rate, whatever the answers' speed (no coordinated omission)."""
    rng = random.Random()
    answered: dict[str, datetime] = {}
    token = issue_dev_token(stack.jwt_secret, "registrar", subject="bench")
    client = HttpConnections("127.0.0.1", 8001, {"Authorization": f"Bearer {token}"})
    since = await committed_ends(stack.kafka, REGISTERED)
    over_time_limit = 0

    async def one(body: dict[str, Any]) -> None:
        nonlocal over_time_limit
        status, record = await client.post_json("/returnees", body)
        if status == 503 and (record or {}).get("error") == "time_limit_reached":
            # More load than the stack answers in time (seen with tracing on, at 200/s): a
            # figure of its own, never counted as answered. Any other refusal means the
            # benchmark itself is wrong, and stops the run.
            over_time_limit += 1
            return
        if status != 201:
            raise RuntimeError(f"intake answered {status}: {record}")
        answered[record["returnee_id"]] = datetime.fromisoformat(record["registered_at"])

    tasks = []
    start = time.perf_counter()
    try:
        for n in range(int(rate * seconds)):
            delay = start + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(_body(rng))))
        await asyncio.gather(*tasks)
    finally:
        await client.close()
    elapsed = time.perf_counter() - start
    published = await _published(stack.kafka, since, set(answered))
    event_ids = {returnee: event_id for returnee, (event_id, _) in published.items()}
    opened = await _wait_for_times(
        stack.dsns["reintegration"],
        "SELECT returnee_id::text, opened_at FROM cases WHERE returnee_id = ANY($1::uuid[])",
        list(answered),
    )
    projected = await _wait_for_times(
        stack.dsns["reporting"],
        "SELECT event_id::text, processed_at FROM inbox WHERE event_id = ANY($1::uuid[])",
        list(event_ids.values()),
    )
    to_kafka = [
        (published[r][1] - at).total_seconds() for r, at in answered.items() if r in published
    ]
    to_case = [(opened[r] - at).total_seconds() for r, at in answered.items() if r in opened]
    to_report = [
        (projected[event_ids[r]] - at).total_seconds()
        for r, at in answered.items()
        if event_ids.get(r) in projected
    ]
    return {
        "achieved_rate": len(answered) / elapsed if elapsed else 0.0,
        "sent": float(len(answered)),
        "over_time_limit": float(over_time_limit),
        "cases": float(len(to_case)),
        "reported": float(len(to_report)),
        "kafka_p50_ms": percentile(to_kafka, 50) * 1000,
        "kafka_p99_ms": percentile(to_kafka, 99) * 1000,
        "case_p50_ms": percentile(to_case, 50) * 1000,
        "case_p99_ms": percentile(to_case, 99) * 1000,
        "report_p50_ms": percentile(to_report, 50) * 1000,
        "report_p99_ms": percentile(to_report, 99) * 1000,
    }


async def _published(
    kafka: str, since: dict[TopicPartition, int], returnee_ids: set[str]
) -> dict[str, tuple[str, datetime]]:
    """returnee id -> (ce_id, record timestamp) of its returnee.registered after `since`.

    The timestamp is the relay's producer clock when it sent the record (CreateTime).
    """
    consumer = AIOKafkaConsumer(**kafka_options(kafka), enable_auto_commit=False)
    await consumer.start()
    found: dict[str, tuple[str, datetime]] = {}
    try:
        consumer.assign(list(since))
        for partition, offset in since.items():
            consumer.seek(partition, offset)
        deadline = time.monotonic() + 60
        while len(found) < len(returnee_ids) and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500, max_records=5000)
            for records in batches.values():
                for record in records:
                    key = (record.key or b"").decode()
                    if key in returnee_ids:
                        sent_at = datetime.fromtimestamp(record.timestamp / 1000, UTC)
                        found[key] = (dict(record.headers)["ce_id"].decode(), sent_at)
    finally:
        await consumer.stop()
    return found


async def _wait_for_times(dsn: str, query: str, ids: list[str]) -> dict[str, datetime]:
    """id -> timestamp from `query`, polled until every id has a row (or a minute passed)."""
    conn = await asyncpg.connect(dsn)
    try:
        deadline = time.monotonic() + 60
        while True:
            rows = await conn.fetch(query, ids)
            if len(rows) == len(ids) or time.monotonic() > deadline:
                return {row[0]: row[1] for row in rows}
            await asyncio.sleep(0.5)
    finally:
        await conn.close()
