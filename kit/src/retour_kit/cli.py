"""The command line every service exposes as `retour-<service>`.

- `retour-<service> serve`: run the HTTP API (the default)
- `retour-<service> migrate`: apply pending migrations and exit (operators, migration Job)
- `retour-<service> dead-letters replay [--dry-run] [--topic TOPIC]`: apply this service's
  dead letters again after a fix, in their original order, idempotently (services that
  consume; ``retour_kit.consuming.replay``)
- a service's own operator commands (`retour-intake rewrap-keys`)
"""

import argparse
import asyncio
import gc
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic

import asyncpg
import structlog
import uvicorn
from fastapi import FastAPI

from retour_kit.logging import configure_logging
from retour_kit.migrations import MigrationError, migrate
from retour_kit.safe_errors import describe_error
from retour_kit.settings import SettingsT, load_settings

# Kubernetes sends SIGTERM, then SIGKILL after terminationGracePeriodSeconds (30 s by
# default); in-flight requests get most of that window to finish.
GRACEFUL_SHUTDOWN_SECONDS = 20


@dataclass(frozen=True)
class ReplayRequest:
    """``dead-letters replay``'s options."""

    topic: str | None = None
    """Only this subscribed topic (or its ``.dlq``); all by default."""
    dry_run: bool = False


ReplayDeadLetters = Callable[[SettingsT, ReplayRequest], Coroutine[Any, Any, str]]
"""Replays a service's dead letters; returns the one-line summary."""


@dataclass(frozen=True)
class OperatorCommand(Generic[SettingsT]):
    """A one-shot command of a service for operators; ``run`` returns a one-line summary."""

    help: str
    run: Callable[[SettingsT], Coroutine[Any, Any, str]]


def service_cli(
    *,
    settings_cls: type[SettingsT],
    build_app: Callable[[SettingsT], FastAPI],
    schema_of: Callable[[SettingsT], str],
    migrations_package: str,
    commands: Mapping[str, OperatorCommand[SettingsT]] | None = None,
    replay_dead_letters: ReplayDeadLetters[SettingsT] | None = None,
    argv: Sequence[str] | None = None,
) -> None:
    """Parses `argv` (default: sys.argv) and runs `serve`, `migrate`, `dead-letters replay`
    (given ``replay_dead_letters``) or one of ``commands``; exits on failure."""
    service = settings_cls.model_fields["service_name"].default
    own = dict(commands or {})
    arguments = _parser(service, own, replays=replay_dead_letters is not None).parse_args(argv)
    command = arguments.command or "serve"
    settings = load_settings(settings_cls)
    configure_logging(settings.service_name, settings.log_level)
    if command == "migrate":
        _migrate(settings.database_url, schema_of(settings), migrations_package)
    elif command == DEAD_LETTERS and replay_dead_letters is not None:
        request = ReplayRequest(topic=arguments.topic, dry_run=arguments.dry_run)
        replay = OperatorCommand[SettingsT](
            "replay dead letters", lambda s: replay_dead_letters(s, request)
        )
        _operate("dead-letters replay", replay, settings)
    elif command in own:
        _operate(command, own[command], settings)
    else:
        _serve(build_app(settings), settings.http_host, settings.http_port)


DEAD_LETTERS = "dead-letters"


def _parser(
    service: str, own: Mapping[str, OperatorCommand[SettingsT]], *, replays: bool
) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=service, description=f"Run the {service} service.")
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("serve", help="serve the HTTP API (default)")
    commands.add_parser("migrate", help="apply pending database migrations and exit")
    if replays:
        _add_dead_letter_commands(commands.add_parser(DEAD_LETTERS, help="dead-letter tools"))
    for name, command in own.items():
        commands.add_parser(name, help=command.help)
    return parser


def _add_dead_letter_commands(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True)
    replay = actions.add_parser(
        "replay",
        help="apply this service's dead letters again (after a fix), in their original order;"
        " what was applied already is skipped, what fails again stays a dead letter",
    )
    replay.add_argument("--topic", help="only this topic's dead letters (default: all)")
    replay.add_argument(
        "--dry-run", action="store_true", help="count what would be replayed, change nothing"
    )


def _operate(name: str, command: OperatorCommand[SettingsT], settings: SettingsT) -> None:
    log = structlog.stdlib.get_logger(__name__)
    try:
        summary = asyncio.run(command.run(settings))
    except Exception as error:  # an operator's one-shot: report it cleanly, exit non-zero
        log.error(f"{name} failed", reason=describe_error(error))
        raise SystemExit(1) from None
    log.info(f"{name} done", summary=summary)


def _serve(app: FastAPI, host: str, port: int) -> None:
    collect_garbage_less_often()
    # uvicorn handles SIGTERM itself: it stops accepting connections, lets in-flight
    # requests finish, then runs the lifespan shutdown (closing the pool).
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_config=None,  # keep the JSON logging configured above
        # Access lines would carry client IP addresses, which are personal data;
        # request counts and latencies are in /metrics instead.
        access_log=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )


def collect_garbage_less_often() -> None:
    # Every request allocates thousands of short-lived objects (validation, JSON, ASGI
    # scopes): with the default threshold (700) the collector ran several times per request,
    # and its older generations kept walking the whole app built at start-up. gc.freeze()
    # takes that app out of its sight, and young collections wait for 50,000 allocations
    # (intake: about 15 % more registrations a second, docs/performance.md).
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


def _migrate(dsn: str, schema: str, package: str) -> None:
    log = structlog.stdlib.get_logger(__name__)
    try:
        applied = asyncio.run(migrate(dsn, schema=schema, package=package))
    except (MigrationError, asyncpg.PostgresError, OSError) as error:
        log.error("migrations failed", schema=schema, reason=describe_error(error))
        raise SystemExit(1) from None
    log.info("migrations up to date", schema=schema, applied=applied)
