"""`make bench`: every figure beside a baseline measured in the same run; one table, one JSON.

Runs against the local stack (make up). Sizes are parameters; the defaults (the growth curves
to a million registrations and five million events) take about 16 minutes on the project's
2-core machine. Targets (issue 19's) are printed, never asserted.
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

from bench import (
    ceiling,
    consumers,
    intake_load,
    outbox_drain,
    registry,
    replay,
    sandbox,
    search,
)
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
from retour_intake.domain.duplicates import BIRTH_YEAR_TOLERANCE
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
            target=">= 0.8 x ceiling",
        ),
        row(
            "notifications consumer (up to the ledger)",
            notifications,
            "events/s",
            baseline=top,
            target=">= 0.8 x ceiling",
        ),
        row(
            "reporting consumer (one process)",
            reporting,
            "events/s",
            baseline=top,
            target=">= 0.8 x ceiling",
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
    for situation, load, target in (
        ("whole pipeline running", whole, ""),
        ("downstream services stopped", alone, ">= 0.25 x /healthz"),
    ):
        rows += [
            row(
                f"intake: POST /returnees, concurrency 32, {situation}",
                load["per_second"],
                "req/s",
                baseline=healthz["per_second"],
                target=target,
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
        rows.append(
            row(
                f"open loop at {rate}/s: stopped at intake's time limit (503)",
                result["over_time_limit"],
                "requests",
                target="0",
            )
        )
        target = "<= 50 ms at 200/s" if rate == 200 else ""
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
        row(
            f"outbox drain of {backlog:,} rows",
            drained,
            "events/s",
            baseline=raw_rate,
            target=">= 0.8 x raw producer",
        ),
    ]


async def replay_rows(stack: Stack, sizes: list[int], workers: int | None) -> list[Row]:
    """The rebuild's curve: for each size, the ceiling over the same events (the baseline),
    the rebuild's rate and time, and its rate against the smallest size's (flat is 1.0)."""
    rows: list[Row] = []
    smallest: float | None = None
    for events in sorted(sizes):
        rebuilt = await replay.rebuild(stack, events, workers)
        top, rate = rebuilt["ceiling_per_second"], rebuilt["per_second"]
        smallest = smallest or rate
        rows += [
            row(f"ceiling over the replayed {events:,} events", top, "events/s", baseline=top),
            row(
                f"reporting rebuild of {events:,} events",
                rate,
                "events/s",
                baseline=top,
                target=">= 1.5 x ceiling (both cores, bulk writes)",
            ),
            row(f"  rebuild time, {events:,} events", rebuilt["seconds"], "s"),
            row(
                f"  rebuild rate, {events:,} / {min(sizes):,} events",
                rate / smallest,
                "x",
                target="flat (1.0)",
            ),
        ]
    return rows


def print_table(rows: list[Row]) -> None:
    width = max(len(r["figure"]) for r in rows)
    out = sys.stdout
    out.write(f"{'figure':<{width}}  {'value':>12}  {'unit':<9} {'ratio':>6}  target\n")
    for r in rows:
        ratio = f"{r['ratio']:.2f}" if r["ratio"] is not None else ""
        value = f"{r['value']:>12,.1f}"
        out.write(f"{r['figure']:<{width}}  {value}  {r['unit']:<9} {ratio:>6}  {r['target']}\n")


async def registry_rows(stack: Stack, registries: list[int], seconds: float) -> list[Row]:
    """The growth curves: search and registration among registries of growing size
    (bench/registry.py), each size compared with the smallest (flat is 1.0).

    Search: the adapter's query, p95 beside a read by id on the same data (its baseline).
    Registration: POST /returnees to an intake serving that registry (bench/sandbox.py), wrk
    at concurrency 32, people with the registry's commonest names who match none of their
    namesakes (born earlier): duplicate detection meets the whole crowd each time. Downstream
    services are stopped meanwhile, as for "intake alone", and catch up afterwards.
    """
    rows: list[Row] = []
    smallest: dict[str, float] = {}
    async with downstream_stopped(stack):
        for size in sorted(registries):
            async with registry.seeded(stack, size) as seeded:
                found = await search.latencies(stack, seeded)
                async with sandbox.intake_over(seeded) as port:
                    load = await intake_load.closed_loop(
                        stack,
                        mode="namesakes",
                        seconds=seconds,
                        url=f"http://127.0.0.1:{port}",
                        options=NAMESAKES,
                    )
            smallest = smallest or {
                "search": found["search_p95_ms"],
                "register": load["per_second"],
                "register_p99": load["p99_ms"],
            }
            rows += _search_rows(size, min(registries), found, smallest["search"])
            rows += [
                row(
                    f"registration of namesakes among {size:,}, concurrency 32",
                    load["per_second"],
                    "req/s",
                    baseline=smallest["register"],
                    target="flat (1.0) where an index makes it so",
                ),
                row(
                    f"  p99 latency among {size:,}",
                    load["p99_ms"],
                    "ms",
                    baseline=smallest["register_p99"],
                ),
            ]
    return rows


NAMESAKES = {
    "RETOUR_WRK_GIVEN": ",".join(registry.GIVEN),
    "RETOUR_WRK_FAMILY": ",".join(registry.FAMILY),
    "RETOUR_WRK_BORN_BEFORE": str(registry.BORN_FROM - BIRTH_YEAR_TOLERANCE - 1),
}
"""wrk's namesakes (bench/wrk/intake.lua): the registry's names, born before everyone in it
(outside duplicate detection's window), so that every registration is answered 201."""


def _search_rows(
    size: int, smallest_size: int, found: dict[str, float], smallest_p95: float
) -> list[Row]:
    return [
        row(
            f"baseline: one registration by id, among {size:,}: p95",
            found["by_id_p95_ms"],
            "ms",
            baseline=found["by_id_p95_ms"],
        ),
        row(
            f"search (reference, phone, NINA, misspelled name) among {size:,}: p50",
            found["search_p50_ms"],
            "ms",
        ),
        row(
            f"search among {size:,}: p95",
            found["search_p95_ms"],
            "ms",
            baseline=found["by_id_p95_ms"],
            target="<= 100 ms",
        ),
        row(
            f"search among {size:,}: p95 / p95 among {smallest_size:,}",
            found["search_p95_ms"] / smallest_p95,
            "x",
            target="flat (1.0) where an index makes it so",
        ),
    ]


def memory_rows(peaks: dict[str, float]) -> list[Row]:
    return [
        row(f"peak memory (RSS) of {service} during the run", mib, "MiB")
        for service, mib in peaks.items()
    ]


FIGURES = ("consumers", "intake", "end-to-end", "drain", "replay", "registries")


async def main_async(args: argparse.Namespace, stack: Stack) -> list[Row]:
    figures = {
        "consumers": lambda: consumer_rows(stack, args.events),
        "intake": lambda: intake_rows(stack, args.load_seconds),
        "end-to-end": lambda: end_to_end_rows(stack, args.seconds),
        "drain": lambda: drain_rows(stack, args.backlog),
        "replay": lambda: replay_rows(stack, args.replays, args.rebuild_workers),
        "registries": lambda: registry_rows(stack, args.registries, args.load_seconds),
    }
    rows: list[Row] = []
    async with PeakMemory() as memory:
        for name in args.only:
            rows += await figures[name]()
    return rows + memory_rows(memory.peaks_mib())


def _sizes(text: str) -> list[int]:
    return [int(size.replace("_", "")) for size in text.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser(prog="make bench", description=__doc__)
    parser.add_argument("--events", type=int, default=50_000, help="events per consumer run")
    parser.add_argument(
        "--load-seconds", type=float, default=15.0, help="duration of each closed-loop figure"
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="open-loop duration")
    parser.add_argument("--backlog", type=int, default=100_000, help="outbox rows to drain")
    parser.add_argument(
        "--replays",
        type=_sizes,
        default=[100_000, 1_000_000, 5_000_000],
        help="comma-separated numbers of events rebuilt from (the rebuild's curve)",
    )
    parser.add_argument(
        "--registries",
        type=_sizes,
        default=[10_000, 100_000, 1_000_000],
        help="comma-separated registry sizes searched and registered into (the growth curves)",
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
