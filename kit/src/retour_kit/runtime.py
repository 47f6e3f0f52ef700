"""The service runtime: a service declares what it is, the kit runs it.

A service's ``main.py`` holds one ``ServiceDefinition``: its schema and migrations, whether it
has an outbox, which events it consumes under which inbox name, and a ``wire`` function that
builds its own parts (routers, the handler of its events, extra workers) from the ``Parts``
the kit hands it. Everything else is the same for every service and lives here: settings,
logging, the metrics registry, the database pool, the outbox relay, the consumer, readiness,
and one lifespan that starts and stops everything in a stated order:

start   database open and migrated -> the service's resources -> outbox relay -> consumer
        -> workers (the service's, then the kit's retention) -> HTTP serves
stop    HTTP stops taking requests (uvicorn) -> consumer and workers asked to stop, together
        given STOP_SECONDS to finish what they hold (a partition batch commits, a message in
        hand is sent), then cancelled -> relay cancelled (its batch rolls back and is published
        again later) -> Kafka producer closed -> resources closed -> pool closed

Why the relay stops after the consumer: what the consumer commits in its last batch may
enqueue events; they are published at the next start if not now, never lost (the outbox is
in the same transaction).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field, replace
from importlib.metadata import version
from typing import Any, Generic, Protocol, TypeVar

import asyncpg
import structlog
from fastapi import APIRouter, FastAPI
from prometheus_client import CollectorRegistry

from retour_contracts import EventSpec
from retour_kit.cli import OperatorCommand, ReplayDeadLetters, ReplayRequest, service_cli
from retour_kit.consuming import (
    ConsumerMetrics,
    ConsumerSettings,
    EventConsumer,
    HandleBatch,
    Subscription,
    SystematicFailurePolicy,
    replay_dead_letters,
)
from retour_kit.db import Connection, Database, DatabaseLimits
from retour_kit.http import create_http_app
from retour_kit.http_limits import BodyRules
from retour_kit.kafka_publisher import KafkaRecordPublisher
from retour_kit.lifespan import database_ready
from retour_kit.logging import configure_logging
from retour_kit.metrics import new_registry
from retour_kit.migrations import declared_kit_tables
from retour_kit.outbox import OutboxRelay, RelaySettings
from retour_kit.outbox_metrics import PrometheusOutboxMetrics
from retour_kit.readiness import ReadinessCheck, consumer_ready, kafka_ready, postgres_ready
from retour_kit.retention import RetentionMetrics, RetentionWorker, expiries
from retour_kit.safe_errors import describe_error
from retour_kit.settings import ConsumingSettings, ServiceSettings
from retour_kit.telemetry import configure_tracing, shutdown_tracing
from retour_kit.topic_check import check_service_topics, enforced
from retour_kit.unit_of_work import UnitOfWork

log = structlog.stdlib.get_logger(__name__)

S = TypeVar("S", bound=ServiceSettings)
A = TypeVar("A")

STOP_SECONDS = 15.0
"""How long the consumer and the workers get, together, to finish what they hold at a stop,
after uvicorn's in-flight requests (up to 20 s): the Deployments' termination grace period
must cover both (deploy/k8s)."""


class Worker(Protocol):
    """Background work that runs from start to stop: it returns soon after ``stopping`` is
    set, having finished the unit of work in hand."""

    @property
    def name(self) -> str: ...

    async def run(self, stopping: asyncio.Event) -> None: ...


@dataclass(frozen=True)
class Parts(Generic[S]):
    """What the kit built for a service, handed to its ``wire`` function."""

    settings: S
    database: Database
    registry: CollectorRegistry

    def pool(self) -> asyncpg.Pool:
        """The open pool; call it when serving, not while wiring (it opens at start)."""
        return self.database.pool

    def unit_of_work(self, bind: Callable[[Connection], A]) -> UnitOfWork[A]:
        """Units of work whose adapters are ``bind(connection)``, for routes and handlers."""
        return UnitOfWork(self.database, bind)


@dataclass(frozen=True)
class Wiring:
    """What a service adds to the kit's shell, built by its ``wire`` function (no I/O)."""

    routers: Sequence[APIRouter] = ()
    handler: HandleBatch | None = None
    """Applies the consumed events (ServiceDefinition.consumes) inside their transaction."""
    workers: Callable[[], Sequence[Worker]] = tuple
    """Built once the pool is open, started after the consumer."""
    resources: Sequence[Callable[[], AbstractAsyncContextManager[Any]]] = ()
    """Entered after the database opened, left before it closes (another pool, say)."""
    install: Callable[[FastAPI], None] | None = None
    """Last touches to the app, e.g. an exception handler of the service's own errors."""
    body_rules: BodyRules = field(default_factory=dict)
    """The routes whose body is not JSON of at most HTTP_MAX_BODY_BYTES, by (method, path):
    the kit's request guards apply their media types and size instead."""


@dataclass(frozen=True)
class ServiceDefinition(Generic[S]):
    """A retour service, as its ``main.py`` declares it."""

    name: str
    """``intake``: the distribution is ``retour-intake``, the default schema ``intake``."""
    settings: type[S]
    wire: Callable[[Parts[S]], Wiring]
    migrations_package: str
    outbox: bool = False
    consumes: tuple[EventSpec[Any], ...] = ()
    inbox: str = ""
    """The consumer's name in its inbox; kept whatever the group, so a replay under another
    group recognises the events already applied. Defaults to the service's name."""
    schema_of: Callable[[S], str] | None = None
    """The schema, when a setting can move it (reporting's tests); default: ``name``."""
    version: str = ""
    """Shown in the OpenAPI document; default: the ``retour-<name>`` distribution's."""
    description: str = ""
    """What the service does, for the clients of its API: the OpenAPI document's (Markdown)."""
    commands: Mapping[str, OperatorCommand[S]] = field(default_factory=dict)
    """Operators' one-shot commands beside ``serve`` and ``migrate`` (``rewrap-keys``)."""

    @property
    def inbox_name(self) -> str:
        return self.inbox or self.name

    def schema(self, settings: S) -> str:
        return self.schema_of(settings) if self.schema_of else self.name

    def database(self, settings: S) -> Database:
        return Database.for_service(settings, schema=self.schema(settings))


def build_service_app(definition: ServiceDefinition[S], settings: S) -> FastAPI:
    """The service's FastAPI app, with everything started and stopped by its lifespan.

    Building does no I/O: the pool, the relay and the consumer start with the lifespan.
    """
    configure_logging(settings.service_name, settings.log_level)
    for warning in type(settings).deprecated_names_in_use():
        log.warning("deprecated setting", detail=warning)
    registry = new_registry()
    database = definition.database(settings)
    parts = Parts(settings, database, registry)
    wiring = definition.wire(parts)
    if bool(definition.consumes) != (wiring.handler is not None):
        raise TypeError(
            f"{definition.name}: a handler goes with the events it consumes, both or none"
        )
    consumer = (
        build_consumer(definition, parts, wiring.handler) if wiring.handler is not None else None
    )
    relay = _relay(definition, settings, registry) if definition.outbox else None
    retention_metrics = RetentionMetrics(registry)

    def workers() -> list[Worker]:
        return [*wiring.workers(), *_kit_workers(definition, parts, retention_metrics)]

    service_version = definition.version or version(f"retour-{definition.name}")

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with (
            # First: the pool's connections are traced only if tracing is on when it opens.
            _tracing(settings, service_version),
            _topics_checked(definition, settings),
            database_ready(
                database,
                migrations_package=definition.migrations_package,
                migrate_on_start=settings.migrate_on_start,
            ),
            AsyncExitStack() as resources,
        ):
            for resource in wiring.resources:
                await resources.enter_async_context(resource())
            async with _relaying(relay), _running(consumer, workers()):
                yield

    # Kafka is reported, never required: no service's HTTP API needs it (intake's and
    # reintegration's writes go to their outboxes, the rest are reads of the service's own
    # tables), and its consumer and relay wait for it on their own. Taking pods out of the
    # Service during a Kafka outage would stop the case work it does not stop.
    readiness: list[ReadinessCheck] = [
        postgres_ready(database),
        replace(kafka_ready(settings.kafka_bootstrap_servers), required=False),
    ]
    if consumer is not None:
        # A consumer paused on a systematic failure is reported, never required.
        readiness.append(consumer_ready(lambda: consumer.paused_reason))
    app = create_http_app(
        title=f"retour {definition.name}",
        version=service_version,
        description=definition.description,
        settings=settings,
        lifespan=lifespan,
        readiness=readiness,
        registry=registry,
        body_rules=wiring.body_rules,
    )
    for router in wiring.routers:
        app.include_router(router)
    if wiring.install:
        wiring.install(app)
    return app


def build_consumer(
    definition: ServiceDefinition[S],
    parts: Parts[S],
    handler: HandleBatch,
    *,
    group: str | None = None,
    max_records: int | None = None,
) -> EventConsumer:
    """The service's consumer; ``group`` and ``max_records`` change it for a replay."""
    settings = parts.settings
    if not isinstance(settings, ConsumingSettings):
        raise TypeError(f"{definition.name} consumes events: its settings need ConsumingSettings")
    consumer_settings = ConsumerSettings(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=group or settings.consumer_group,
        consumer_name=definition.inbox_name,
        client_id=settings.service_name,
        session_timeout_ms=settings.consumer_session_timeout_ms,
        max_records=max_records or settings.consumer_max_records,
        systematic=SystematicFailurePolicy(
            threshold=settings.consumer_systematic_failure_threshold,
            window_seconds=settings.consumer_systematic_failure_window_seconds,
            probe_seconds=settings.consumer_pause_probe_seconds,
            probe_cap_seconds=settings.consumer_pause_probe_cap_seconds,
            verdict_wait_seconds=settings.consumer_failure_verdict_wait_seconds,
        ),
        subscriptions=tuple(
            Subscription(spec, topic=settings.topic_of(spec)) for spec in definition.consumes
        ),
    )
    return EventConsumer(
        consumer_settings,
        database=parts.database,
        handler=handler,
        metrics=ConsumerMetrics.register(parts.registry),
    )


def _kit_workers(
    definition: ServiceDefinition[S], parts: Parts[S], metrics: RetentionMetrics
) -> list[Worker]:
    """The kit's own workers for this service: retention, if its schema has a table to prune.

    Which kit tables the schema has is read from its migrations package (``KIT_TABLES``), the
    declaration the migration runner applies: retention then never looks for a table the schema
    lacks nor forgets one it has, and the service says it once (a ServiceDefinition field would
    say it a second time, free to disagree). Read at start, with the workers: building an app
    does no I/O and imports nothing of the service's migrations.
    """
    kit_tables = declared_kit_tables(definition.migrations_package)
    to_prune = expiries(parts.settings, kit_tables)
    if not to_prune:
        return []
    interval = parts.settings.retention_interval_seconds
    return [RetentionWorker(parts.pool(), to_prune, metrics, interval_seconds=interval)]


def service_command(definition: ServiceDefinition[S]) -> Callable[[], None]:
    """The ``retour-<name>`` console command: ``serve`` (default), ``migrate``, or one of the
    service's own operator commands."""

    def command() -> None:
        service_cli(
            settings_cls=definition.settings,
            build_app=lambda settings: build_service_app(definition, settings),
            schema_of=definition.schema,
            migrations_package=definition.migrations_package,
            commands=definition.commands,
            replay_dead_letters=_dead_letter_replay(definition) if definition.consumes else None,
        )

    return command


def _dead_letter_replay(definition: ServiceDefinition[S]) -> ReplayDeadLetters[S]:
    """``dead-letters replay``: the service's own handler and inbox, as its consumer runs them
    (same transaction, same deduplication), over its dead letters; nothing is republished."""

    async def replay(settings: S, request: ReplayRequest) -> str:
        database = definition.database(settings)
        parts = Parts(settings, database, new_registry())
        wiring = definition.wire(parts)
        if wiring.handler is None:
            raise TypeError(f"{definition.name} consumes events but wires no handler")
        consumer = build_consumer(definition, parts, wiring.handler)
        async with (
            database_ready(
                database, migrations_package=definition.migrations_package, migrate_on_start=False
            ),
            AsyncExitStack() as resources,
        ):
            for resource in wiring.resources:
                await resources.enter_async_context(resource())
            summary = await replay_dead_letters(
                consumer.settings,
                database.pool,
                wiring.handler,
                topic=request.topic,
                dry_run=request.dry_run,
            )
        return summary.line()

    return replay


@dataclass(frozen=True)
class _Relay:
    relay: OutboxRelay
    publisher: KafkaRecordPublisher


def _relay(definition: ServiceDefinition[S], settings: S, registry: CollectorRegistry) -> _Relay:
    schema = definition.schema(settings)
    publisher = KafkaRecordPublisher(
        settings.kafka_bootstrap_servers,
        client_id=f"{settings.service_name}-outbox",
        transactional_id=outbox_transactional_id(settings.service_name, schema, definition.name),
    )
    relay = OutboxRelay(
        dsn=settings.database_url,
        schema=schema,
        publisher=publisher,
        metrics=PrometheusOutboxMetrics(registry),
        settings=RelaySettings.for_lease(
            settings.relay_lease_seconds,
            kafka_give_up_seconds=settings.relay_kafka_give_up_seconds,
        ),
        limits=DatabaseLimits.from_settings(settings),
        application_name=f"{settings.service_name}-outbox",
    )
    return _Relay(relay, publisher)


def outbox_transactional_id(service_name: str, schema: str, default_schema: str) -> str:
    """The Kafka transactional.id of a service outbox: the same for all its replicas (so a new
    leader fences the old), prefixed by the service's name (``retour-intake``) so that an ACL on
    that prefix allows it; an outbox in another schema (tests, a sandbox) gets its own."""
    base = f"{service_name}-outbox"
    return base if schema == default_schema else f"{base}.{schema}"


@asynccontextmanager
async def _tracing(settings: ServiceSettings, service_version: str) -> AsyncIterator[None]:
    endpoint = settings.otel_exporter_otlp_endpoint
    configure_tracing(
        settings.service_name,
        endpoint=str(endpoint) if endpoint is not None else None,
        version=service_version,
    )
    try:
        yield
    finally:
        shutdown_tracing()  # exports the last spans: the stop's own, the last batch's


@asynccontextmanager
async def _topics_checked(
    definition: ServiceDefinition[Any], settings: ServiceSettings
) -> AsyncIterator[None]:
    """The Kafka topics the service uses are checked before it serves. Enforced (production),
    unsafe topics stop the start-up; otherwise the check only warns, so it runs beside the
    start-up instead of delaying it (up to its time limit while Kafka is unreachable)."""
    check = check_service_topics(
        settings, service=definition.name, produces=definition.outbox, consumes=definition.consumes
    )
    if enforced(settings):
        await check
        yield
        return
    task = asyncio.create_task(check)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task  # a warning-only check: its failure has been logged, if any


@asynccontextmanager
async def _relaying(outbox: _Relay | None) -> AsyncIterator[None]:
    if outbox is None:
        yield
        return
    task = _watched(outbox.relay.run_forever(), name="outbox-relay")
    try:
        yield
    finally:
        task.cancel()
        try:
            await asyncio.gather(task, return_exceptions=True)
        finally:
            await outbox.publisher.close()


@asynccontextmanager
async def _running(
    consumer: EventConsumer | None, workers: Sequence[Worker]
) -> AsyncIterator[None]:
    stopping = asyncio.Event()
    tasks = [_watched(w.run(stopping), name=w.name) for w in workers]
    if consumer is not None:
        tasks.insert(0, _watched(consumer.run(), name="consumer"))
    try:
        yield
    finally:
        if consumer is not None:
            consumer.stop()
        stopping.set()
        if tasks:
            _, unfinished = await asyncio.wait(tasks, timeout=STOP_SECONDS)
            for task in unfinished:
                # Cancelled mid-way: an uncommitted batch is redelivered to the next consumer
                # of its partition; a message cut off mid-send is recorded as interrupted.
                log.warning("did not stop in time, cancelled", task=task.get_name())
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


def _watched(work: Coroutine[Any, Any, None], *, name: str) -> asyncio.Task[None]:
    """A background task whose unexpected end is logged when it happens: these loops retry
    what fails and run until the service stops, so an exception escaping one is a defect that
    must not go unseen until shutdown (where it would be gathered and dropped)."""
    task = asyncio.create_task(work, name=name)
    task.add_done_callback(_report_unexpected_end)
    return task


def _report_unexpected_end(task: asyncio.Task[None]) -> None:
    if task.cancelled():
        return
    error = task.exception()
    if error is not None:
        log.error("background task died", task=task.get_name(), error=describe_error(error))


__all__ = [
    "STOP_SECONDS",
    "Parts",
    "ServiceDefinition",
    "Wiring",
    "Worker",
    "build_consumer",
    "build_service_app",
    "service_command",
]
