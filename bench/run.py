"""`make bench`: every figure beside a baseline measured in the same run; one table, one JSON.

Runs against the local stack (make up). Sizes are parameters; the defaults finish in a few
minutes on the project's 2-core machine. Targets are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

from bench import ceiling, consumers, intake_load, outbox_drain, replay
from bench.common import (
    Stack,
    Timer,
    load_stack,
    private_topic,
    produce,
    registration_records,
    scratch_schema,
)

Row = dict[str, Any]


def row(
    figure: str, value: float, unit: str, *, baseline: float | None = None, target: str = ""
) -> Row:
    ratio = value / baseline if baseline else None
    return {"figure": figure, "value": value, "unit": unit, "ratio": ratio, "target": target}


async def consumer_rows(stack: Stack, events: int) -> list[Row]:
    async with private_topic(stack.kafka, "consume") as topic:
        await produce(stack.kafka, topic, registration_records(events))
        async with scratch_schema(stack.admin_dsn, ceiling.INBOX_DDL) as schema:
            top = await ceiling.raw_loop(stack.kafka, topic, stack.admin_dsn, schema, events)
        reintegration = await consumers.reintegration(stack, topic, events)
    return [
        row("ceiling: getmany + parse + batch insert + commit", top, "events/s", baseline=top),
        row(
            "reintegration consumer",
            reintegration,
            "events/s",
            baseline=top,
            target=">= 0.5 x ceiling",
        ),
    ]


async def intake_rows(stack: Stack, requests: int) -> list[Row]:
    healthz = await intake_load.closed_loop_healthz(stack, requests=requests, concurrency=32)
    load = await intake_load.closed_loop(stack, requests=requests, concurrency=32)
    return [
        row("intake baseline: GET /healthz, concurrency 32", healthz, "req/s", baseline=healthz),
        row(
            "intake: POST /returnees, concurrency 32",
            load["per_second"],
            "req/s",
            baseline=healthz,
            target=">= 500 req/s",
        ),
        row("intake: p50 latency", load["p50_ms"], "ms"),
        row("intake: p99 latency", load["p99_ms"], "ms"),
    ]


async def end_to_end_rows(stack: Stack, seconds: float) -> list[Row]:
    rows: list[Row] = []
    for rate in (50, 200):
        result = await intake_load.open_loop_end_to_end(stack, rate=rate, seconds=seconds)
        rows.append(
            row(
                f"open loop at {rate}/s: registrations answered per second",
                result["achieved_rate"],
                "req/s",
                baseline=rate,
            )
        )
        rows.append(row(f"201 -> case opened at {rate}/s: p50", result["p50_ms"], "ms"))
        rows.append(
            row(
                f"201 -> case opened at {rate}/s: p99",
                result["p99_ms"],
                "ms",
                target="<= 250 ms at 200/s" if rate == 200 else "",
            )
        )
    return rows


async def drain_rows(stack: Stack, backlog: int) -> list[Row]:
    async with private_topic(stack.kafka, "drain") as topic:
        with Timer() as raw:
            await produce(stack.kafka, topic, registration_records(backlog))
        drained = await outbox_drain.drain(stack, topic, backlog)
    raw_rate = backlog / raw.seconds
    return [
        row("baseline: raw idempotent producer, acks=all", raw_rate, "events/s", baseline=raw_rate),
        row(f"outbox drain of {backlog:,} rows", drained, "events/s", baseline=raw_rate),
    ]


async def replay_rows(stack: Stack, events: int) -> list[Row]:
    rebuilt, top = await replay.rebuild_rate(stack, events)
    return [
        row(f"ceiling over the replayed {events:,} events", top, "events/s", baseline=top),
        row(
            "reporting rebuild (replay)",
            rebuilt,
            "events/s",
            baseline=top,
            target=">= 10,000 events/s",
        ),
    ]


def print_table(rows: list[Row]) -> None:
    width = max(len(r["figure"]) for r in rows)
    out = sys.stdout
    out.write(f"{'figure':<{width}}  {'value':>12}  {'unit':<9} {'ratio':>6}  target\n")
    for r in rows:
        ratio = f"{r['ratio']:.2f}" if r["ratio"] is not None else ""
        value = f"{r['value']:>12,.1f}"
        out.write(f"{r['figure']:<{width}}  {value}  {r['unit']:<9} {ratio:>6}  {r['target']}\n")


async def main_async(args: argparse.Namespace) -> list[Row]:
    stack = load_stack()
    rows: list[Row] = []
    rows += await consumer_rows(stack, args.events)
    rows += await intake_rows(stack, args.requests)
    rows += await end_to_end_rows(stack, args.seconds)
    rows += await drain_rows(stack, args.backlog)
    rows += await replay_rows(stack, args.replay)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(prog="make bench", description=__doc__)
    parser.add_argument("--events", type=int, default=50_000, help="events per consumer run")
    parser.add_argument("--requests", type=int, default=3_000, help="HTTP requests per figure")
    parser.add_argument("--seconds", type=float, default=10.0, help="open-loop duration")
    parser.add_argument("--backlog", type=int, default=100_000, help="outbox rows to drain")
    parser.add_argument("--replay", type=int, default=200_000, help="events to rebuild from")
    parser.add_argument("--output", type=Path, default=Path(".local/bench/results.json"))
    args = parser.parse_args()
    rows = asyncio.run(main_async(args))
    print_table(rows)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(
        json.dumps(
            {
                "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "machine": {
                    "platform": platform.platform(),
                    "python": platform.python_version(),
                    "cpus": os.cpu_count(),
                },
                "parameters": {k: v for k, v in vars(args).items() if k != "output"},
                "results": rows,
            },
            indent=2,
        )
        + "\n"
    )
    sys.stdout.write(f"\nresults written to {args.output}\n")


if __name__ == "__main__":
    main()
