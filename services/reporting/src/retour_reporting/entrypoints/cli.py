"""``retour-reporting serve | migrate | rebuild | rebuild-member``.

``serve`` and ``migrate`` are the kit's; ``rebuild`` empties the projections and replays the
topics from their first event (see ``usecases.rebuilding``), then exits: 0 when caught up,
1 when it failed or timed out. ``rebuild --workers N`` replays with N processes;
``rebuild-member`` is one of the N - 1 it starts (see ``rebuild_members``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

import asyncpg
import structlog
from fastapi import FastAPI

from retour_kit.cli import service_cli
from retour_kit.logging import configure_logging
from retour_kit.safe_errors import describe_error
from retour_kit.settings import load_settings
from retour_reporting.settings import Settings
from retour_reporting.usecases.rebuilding import RebuildError, RebuildOutcome

Rebuild = Callable[[Settings, float | None, int], Coroutine[Any, Any, RebuildOutcome]]
RebuildMember = Callable[[Settings, int], Coroutine[Any, Any, None]]
# More members than a topic has partitions would wait idle; a few cores are plenty.
MAX_WORKERS = 16


def run_cli(
    *,
    build_app: Callable[[Settings], FastAPI],
    rebuild: Rebuild,
    rebuild_member: RebuildMember,
    migrations_package: str,
    argv: Sequence[str] | None = None,
) -> None:
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    settings = load_settings(Settings)
    if args.command == "rebuild":
        raise SystemExit(_rebuild(rebuild, settings, args.timeout, args.workers))
    if args.command == "rebuild-member":
        configure_logging(settings.service_name, settings.log_level)
        asyncio.run(rebuild_member(settings, args.parent))
        raise SystemExit(0)
    service_cli(
        settings_cls=Settings,
        build_app=build_app,
        schema_of=lambda settings: settings.database_schema,
        migrations_package=migrations_package,
        argv=[args.command or "serve"],
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="retour-reporting", description="Run the reporting service."
    )
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("serve", help="serve the HTTP API and consume the topics (default)")
    commands.add_parser("migrate", help="apply pending database migrations and exit")
    rebuild = commands.add_parser("rebuild", help="recreate the projections from the topics")
    rebuild.add_argument(
        "--timeout", type=float, default=None, metavar="SECONDS", help="give up after this long"
    )
    rebuild.add_argument(
        "--workers",
        type=_workers,
        default=min(os.cpu_count() or 1, MAX_WORKERS),
        metavar="N",
        help="processes replaying side by side (default: one per CPU)",
    )
    member = commands.add_parser(
        "rebuild-member", help="one more process of a running rebuild (started by rebuild)"
    )
    member.add_argument(
        "--parent", type=int, required=True, metavar="PID", help="the rebuild's process id"
    )
    return parser


def _workers(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a whole number") from None
    if not 1 <= value <= MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"between 1 and {MAX_WORKERS}, not {value}")
    return value


def _rebuild(
    rebuild: Rebuild, settings: Settings, timeout_seconds: float | None, workers: int
) -> int:
    configure_logging(settings.service_name, settings.log_level)
    log = structlog.stdlib.get_logger(__name__)
    try:
        outcome = asyncio.run(rebuild(settings, timeout_seconds, workers))
    except (RebuildError, LookupError, asyncpg.PostgresError, OSError) as error:
        log.error("rebuild failed", reason=describe_error(error))
        return 1
    summary = {"records": outcome.records, "seconds": round(outcome.seconds, 3)}
    sys.stdout.write(json.dumps(summary) + "\n")
    return 0
