"""Readiness probes: can this instance do useful work right now?"""

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import asyncpg
import structlog
from aiokafka.client import AIOKafkaClient

from retour_kit.db import Database
from retour_kit.kafka_security import kafka_options

_log = structlog.stdlib.get_logger(__name__)

OK = "ok"


class NotReady(Exception):
    """Raised by a probe that knows why: its ``detail`` becomes the check's outcome in
    /readyz instead of "failed" (``paused: systematic failure UndefinedColumnError/42703``).
    The detail must never hold personal data."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


@dataclass(frozen=True)
class ReadinessCheck:
    """A named probe that raises (or times out) when its dependency is unusable."""

    name: str
    probe: Callable[[], Awaitable[None]]
    timeout_seconds: float = 2.0
    # An optional dependency is reported but does not make the instance unready: intake, for
    # one, keeps registering into its outbox while Kafka is down.
    required: bool = True


async def run_readiness_checks(checks: Sequence[ReadinessCheck]) -> dict[str, str]:
    """Runs all probes concurrently; maps each name to "ok", "timeout", "failed" or the
    detail of the probe's ``NotReady``."""
    outcomes = await asyncio.gather(*(_outcome(check) for check in checks))
    return {check.name: outcome for check, outcome in zip(checks, outcomes, strict=True)}


async def _outcome(check: ReadinessCheck) -> str:
    try:
        async with asyncio.timeout(check.timeout_seconds):
            await check.probe()
    except TimeoutError:
        _log.warning("readiness check timed out", check=check.name)
        return "timeout"
    except NotReady as not_ready:
        return not_ready.detail
    except Exception as error:
        _log.warning("readiness check failed", check=check.name, error=repr(error))
        return "failed"
    return OK


def postgres_ready(
    pool: asyncpg.Pool | Database, *, timeout_seconds: float = 2.0
) -> ReadinessCheck:
    """SELECT 1 through the pool; a `Database` is resolved at probe time."""

    async def probe() -> None:
        current = pool.pool if isinstance(pool, Database) else pool
        await current.fetchval("SELECT 1")

    return ReadinessCheck("postgres", probe, timeout_seconds)


def kafka_ready(bootstrap_servers: str, *, timeout_seconds: float = 3.0) -> ReadinessCheck:
    """Fetches cluster metadata with a short-lived client.

    A fresh connection per probe (every few seconds) is cheap and leaves nothing
    to close at shutdown. Once a service owns a broker, `broker.ping()` can replace it.
    """

    async def probe() -> None:
        client = AIOKafkaClient(
            **kafka_options(bootstrap_servers),
            request_timeout_ms=int(timeout_seconds * 1000),
            client_id="retour-readiness",
        )
        try:
            await client.bootstrap()
        finally:
            await client.close()

    return ReadinessCheck("kafka", probe, timeout_seconds)


def consumer_ready(paused_reason: Callable[[], str | None]) -> ReadinessCheck:
    """Reports a consumer paused on a systematic failure (``EventConsumer.paused_reason``).

    Not required: the HTTP API of a paused consumer's service still serves, and taking every
    replica out of the Service (all pause alike) would stop the case work a consumer bug does
    not stop. The pause shows in /readyz's ``checks`` (its reason) and ``degraded``.
    """

    async def probe() -> None:
        reason = paused_reason()
        if reason is not None:
            raise NotReady(reason)

    return ReadinessCheck("consumer", probe, required=False)
