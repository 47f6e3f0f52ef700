"""``retour-reporting serve | migrate | rebuild``.

``serve`` and ``migrate`` are the kit's; ``rebuild`` empties the projections and replays the
topics from their first event (see ``usecases.rebuilding``), then exits: 0 when caught up,
1 when it failed or timed out.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

import structlog
from fastapi import FastAPI

from retour_kit.cli import service_cli
from retour_kit.logging import configure_logging
from retour_kit.settings import load_settings
from retour_reporting.settings import Settings
from retour_reporting.usecases.rebuilding import RebuildError, RebuildOutcome

Rebuild = Callable[[Settings, float | None], Coroutine[Any, Any, RebuildOutcome]]


def run_cli(
    *,
    build_app: Callable[[Settings], FastAPI],
    rebuild: Rebuild,
    migrations_package: str,
    argv: Sequence[str] | None = None,
) -> None:
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    settings = load_settings(Settings)
    if args.command == "rebuild":
        raise SystemExit(_rebuild(rebuild, settings, args.timeout))
    service_cli(
        settings_cls=Settings,
        build_app=build_app,
        schema=settings.database_schema,
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
    return parser


def _rebuild(rebuild: Rebuild, settings: Settings, timeout_seconds: float | None) -> int:
    configure_logging(settings.service_name, settings.log_level)
    log = structlog.stdlib.get_logger(__name__)
    try:
        outcome = asyncio.run(rebuild(settings, timeout_seconds))
    except (RebuildError, LookupError) as error:
        log.error("rebuild failed", reason=str(error))
        return 1
    summary = {"records": outcome.records, "seconds": round(outcome.seconds, 3)}
    sys.stdout.write(json.dumps(summary) + "\n")
    return 0
