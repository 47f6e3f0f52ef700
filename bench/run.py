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
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from bench import ceiling, consumers, intake_load, outbox_drain, replay, search
from bench.common import (
    Stack,
    Timer,
    load_stack,
    private_topic,
    produce,
    registration_records,
    scratch_schema,
)
from bench.memory import PeakMemory
from retour_kit.cli import collect_garbage_less_often
from retour_kit.logging import configure_logging

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
        notifications = await consumers.notifications(stack, topic, events)
        reporting = await consumers.reporting(stack, topic, events)
    return [
        row("ceiling: getmany + parse + batch insert + commit", top, "events/s", baseline=top),
        row(
            "reintegration consumer",
            reintegration,
            "events/s",
            baseline=top,
            target=">= 0.5 x ceiling",
        ),
        row(
            "notifications consumer (up to the ledger)",
            notifications,
            "events/s",
            baseline=top,
            target=">= 0.5 x ceiling",
        ),
        row(
            "reporting consumer (one process)",
            reporting,
            "events/s",
            baseline=top,
            target=">= 0.5 x ceiling",
        ),
    ]


async def intake_rows(stack: Stack, seconds: float) -> list[Row]:
    healthz = await intake_load.closed_loop(stack, mode="healthz", seconds=seconds)
    rows = [row("intake baseline: GET /healthz, concurrency 32", healthz["per_second"], "req/s")]
    # Twice: with the downstream services running on the same 2 cores (the whole pipeline
    # competing for them), and with them stopped (intake, its outbox and relay alone, as
    # when they run on other machines). They are restarted afterwards and catch up.
    whole = await intake_load.closed_loop(stack, mode="register", seconds=seconds)
    async with downstream_stopped(stack):
        alone = await intake_load.closed_loop(stack, mode="register", seconds=seconds)
    for situation, load in (
        ("whole pipeline running", whole),
        ("downstream services stopped", alone),
    ):
        rows += [
            row(
                f"intake: POST /returnees, concurrency 32, {situation}",
                load["per_second"],
                "req/s",
                baseline=healthz["per_second"],
                target=">= 500 req/s",
            ),
            row(f"  p50 latency, {situation}", load["p50_ms"], "ms"),
            row(f"  p99 latency, {situation}", load["p99_ms"], "ms"),
        ]
    return rows


DOWNSTREAM = ("reintegration", "notifications", "reporting")


@asynccontextmanager
async def downstream_stopped(stack: Stack) -> AsyncIterator[None]:
    await _services("stop", *DOWNSTREAM)
    try:
        yield
    finally:
        await _services("start", *DOWNSTREAM)
        # The next figures must not measure the backlog left by this one.
        await caught_up(stack, DOWNSTREAM, intake_load.REGISTERED)


async def caught_up(stack: Stack, groups: tuple[str, ...], topic: str) -> None:
    deadline = time.monotonic() + 300
    async with consumers.OffsetsWatch(stack.kafka) as watch:
        for group in groups:
            while not await watch.committed_everything(group, topic):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"consumer group {group} did not catch up with {topic}")
                await asyncio.sleep(0.5)


async def _services(action: str, *names: str) -> None:
    process = await asyncio.create_subprocess_exec(
        "bash", "deploy/local/services.sh", action, *names, stdout=asyncio.subprocess.DEVNULL
    )
    if await process.wait() != 0:
        raise RuntimeError(f"services.sh {action} {' '.join(names)} failed")


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
        target = "<= 250 ms at 200/s" if rate == 200 else ""
        steps = (
            ("kafka", "sent to Kafka by the relay"),
            ("case", "case opened"),
            ("report", "in the reporting projection"),
        )
        for step, name in steps:
            rows.append(row(f"201 -> {name} at {rate}/s: p50", result[f"{step}_p50_ms"], "ms"))
            rows.append(
                row(
                    f"201 -> {name} at {rate}/s: p99",
                    result[f"{step}_p99_ms"],
                    "ms",
                    target=target if step != "kafka" else "",
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


async def replay_rows(stack: Stack, events: int, workers: int | None) -> list[Row]:
    rebuilt, top = await replay.rebuild_rate(stack, events, workers)
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


async def search_rows(stack: Stack, registries: list[int]) -> list[Row]:
    """The growth curve of search: the same queries among registries of growing size. Each
    size's p95 is compared with the by-id read on the same data (the baseline) and with the
    smallest registry's p95 (how the cost grows: flat is 1.0)."""
    rows: list[Row] = []
    smallest: float | None = None
    for registrations in sorted(registries):
        found = await search.latencies(stack, registrations)
        smallest = smallest or found["search_p95_ms"]
        rows += [
            row(
                f"baseline: one registration by id, among {registrations:,}: p95",
                found["by_id_p95_ms"],
                "ms",
                baseline=found["by_id_p95_ms"],
            ),
            row(
                f"search (reference, phone, NINA, misspelled name) among {registrations:,}: p50",
                found["search_p50_ms"],
                "ms",
            ),
            row(
                f"search among {registrations:,}: p95",
                found["search_p95_ms"],
                "ms",
                baseline=found["by_id_p95_ms"],
                target="<= 100 ms",
            ),
            row(
                f"search among {registrations:,}: p95 / p95 among {min(registries):,}",
                found["search_p95_ms"] / smallest,
                "x",
                target="flat (1.0) where an index makes it so",
            ),
        ]
    return rows


def memory_rows(peaks: dict[str, float]) -> list[Row]:
    return [
        row(f"peak memory (RSS) of {service} during the run", mib, "MiB")
        for service, mib in peaks.items()
    ]


FIGURES = ("consumers", "intake", "end-to-end", "drain", "replay", "search")


async def main_async(args: argparse.Namespace, stack: Stack) -> list[Row]:
    figures = {
        "consumers": lambda: consumer_rows(stack, args.events),
        "intake": lambda: intake_rows(stack, args.load_seconds),
        "end-to-end": lambda: end_to_end_rows(stack, args.seconds),
        "drain": lambda: drain_rows(stack, args.backlog),
        "replay": lambda: replay_rows(stack, args.replay, args.rebuild_workers),
        "search": lambda: search_rows(stack, args.registries),
    }
    rows: list[Row] = []
    async with PeakMemory() as memory:
        for name in args.only:
            rows += await figures[name]()
    return rows + memory_rows(memory.peaks_mib())


def main() -> None:
    parser = argparse.ArgumentParser(prog="make bench", description=__doc__)
    parser.add_argument("--events", type=int, default=50_000, help="events per consumer run")
    parser.add_argument(
        "--load-seconds", type=float, default=15.0, help="duration of each closed-loop figure"
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="open-loop duration")
    parser.add_argument("--backlog", type=int, default=100_000, help="outbox rows to drain")
    parser.add_argument("--replay", type=int, default=1_000_000, help="events to rebuild from")
    parser.add_argument(
        "--registries",
        type=lambda sizes: [int(size) for size in sizes.split(",")],
        default=[10_000, 100_000, 1_000_000],
        help="comma-separated registry sizes searched through (the growth curve)",
    )
    parser.add_argument(
        "--rebuild-workers",
        type=int,
        default=None,
        help="processes of the rebuild (default: the command's own, one per CPU)",
    )
    parser.add_argument(
        "--only",
        type=lambda names: [name.strip() for name in names.split(",")],
        default=list(FIGURES),
        help=f"comma-separated figures to measure, of: {', '.join(FIGURES)}",
    )
    parser.add_argument("--output", type=Path, default=Path(".local/bench/results.json"))
    args = parser.parse_args()
    unknown = sorted(set(args.only) - set(FIGURES))
    if unknown:
        parser.error(f"--only: unknown figure(s) {', '.join(unknown)}; choose from {FIGURES}")
    # The consumers measured in this process log as the services do (JSON lines); warnings
    # only, so the table stays readable.
    configure_logging("retour-bench", "WARNING", stream=sys.stderr)
    # The services' processes tune the collector so (retour_kit.cli): the consumers measured
    # here, and their ceiling, run under the same setting.
    collect_garbage_less_often()
    stack = load_stack()
    tracing = stack.tracing
    rows = asyncio.run(main_async(args, stack))
    sys.stdout.write(f"services' tracing: {'on' if tracing else 'off (RETOUR_TRACING=off)'}\n")
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
                "tracing": tracing,
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
