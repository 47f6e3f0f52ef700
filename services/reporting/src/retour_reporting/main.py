"""Composition root of the reporting service: what it is, declared on the kit's runtime, and
its rebuild (an empty projection refilled from the topics, with member processes)."""

from __future__ import annotations

import asyncio
import os
import signal
from contextlib import AbstractAsyncContextManager

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from retour_contracts import (
    ACTIVITY_LAUNCHED_V1,
    AID_GRANTED_V1,
    CASE_CLOSED_V1,
    CASE_REOPENED_V1,
    EXPECTED_ARRIVAL_CLOSED_V1,
    FOLLOW_UP_SCHEDULED_V1,
    PLAN_AGREED_V1,
    REFERRAL_UPDATED_V1,
    REINTEGRATION_ASSESSED_V1,
    RETURNEE_EXPECTED_V1,
    RETURNEE_MERGED_V1,
    RETURNEE_REGISTERED_V2,
    RETURNEE_UPDATED_V1,
)
from retour_kit.consuming import EventConsumer, HandleBatch
from retour_kit.db import Database
from retour_kit.lifespan import database_ready
from retour_kit.runtime import Parts, ServiceDefinition, Wiring, build_service_app
from retour_kit.runtime import build_consumer as build_service_consumer
from retour_reporting.adapters.kafka_positions import KafkaTopicPositions
from retour_reporting.adapters.pg_projections import PgProjectionStore, forget_everything
from retour_reporting.adapters.pg_reports import PgReportSource
from retour_reporting.adapters.projection_metrics import ProjectionMetrics
from retour_reporting.entrypoints.cli import run_cli
from retour_reporting.entrypoints.dashboard import DashboardSignIn, dashboard_routes
from retour_reporting.entrypoints.projection_consumer import projecting
from retour_reporting.entrypoints.rebuild_members import WithMemberProcesses
from retour_reporting.entrypoints.report_admission import ReportAdmission
from retour_reporting.entrypoints.report_routes import report_routes
from retour_reporting.settings import Settings
from retour_reporting.usecases.rebuilding import Consumer, RebuildOutcome, rebuild

MIGRATIONS_PACKAGE = "retour_reporting"
INBOX_CONSUMER = "reporting"
"""The inbox keeps this name whatever the group, so the rebuild group and the live group
recognise each other's events."""
REPLAY_MAX_RECORDS = 5000
# One connection per partition of a topic (they are applied side by side), and one to spare.
REPLAY_CONNECTIONS = 8


def wire(parts: Parts[Settings]) -> Wiring:
    reports = open_reports_database(parts.settings)

    def reports_pool() -> AbstractAsyncContextManager[object]:
        return database_ready(
            reports,
            migrations_package=MIGRATIONS_PACKAGE,
            migrate_on_start=False,
            min_size=0,
            max_size=parts.settings.report_max_concurrent,
        )

    admission = ReportAdmission(
        running=parts.settings.report_max_concurrent,
        waiting=parts.settings.report_max_waiting,
        wait_seconds=parts.settings.report_queue_wait_seconds,
        registry=parts.registry,
    )
    source = PgReportSource(lambda: reports.pool)
    sign_in = DashboardSignIn.from_settings(parts.settings)
    return Wiring(
        routers=[report_routes(source, admission), dashboard_routes(sign_in)],
        handler=projection_handler(parts),
        resources=[reports_pool],
    )


SERVICE = ServiceDefinition(
    name="reporting",
    description=(
        "Reports for analysts, from a projection of the events that holds no personal data:"
        " registrations, aid, activities, the outcomes of the 72-hour care and of"
        " reintegration, plans, referrals, follow-ups, sustainability scores, closures and the"
        " expected arrivals of each wave; as JSON with exact counts, as CSV with small cells"
        " suppressed, and on a dashboard at `/`."
    ),
    settings=Settings,
    wire=wire,
    migrations_package=MIGRATIONS_PACKAGE,
    # Corrections, transfers, merges, the case events and the expected arrivals too: the
    # rebuild replays every topic listed here, so it reads them as the live consumer does and
    # ends in the same projections.
    consumes=(
        RETURNEE_REGISTERED_V2,
        AID_GRANTED_V1,
        ACTIVITY_LAUNCHED_V1,
        RETURNEE_UPDATED_V1,
        RETURNEE_MERGED_V1,
        CASE_CLOSED_V1,
        CASE_REOPENED_V1,
        PLAN_AGREED_V1,
        REFERRAL_UPDATED_V1,
        FOLLOW_UP_SCHEDULED_V1,
        REINTEGRATION_ASSESSED_V1,
        RETURNEE_EXPECTED_V1,
        EXPECTED_ARRIVAL_CLOSED_V1,
    ),
    inbox=INBOX_CONSUMER,
    schema_of=lambda settings: settings.database_schema,
)


def build_app(settings: Settings) -> FastAPI:
    return build_service_app(SERVICE, settings)


def open_database(settings: Settings) -> Database:
    return SERVICE.database(settings)


# A rebuild empties the projections (its TRUNCATE waits for the reports and the consumer
# transactions in progress) and forgets millions of inbox rows: an operator's deliberate,
# watched command, bounded by its own --timeout rather than by a request's time limit.
REBUILD_STATEMENT_TIMEOUT_SECONDS = 3600.0


def open_rebuild_database(settings: Settings) -> Database:
    return Database.for_service(
        settings,
        schema=settings.database_schema,
        purpose="rebuild",
        statement_timeout_seconds=REBUILD_STATEMENT_TIMEOUT_SECONDS,
    )


def open_reports_database(settings: Settings) -> Database:
    """The reports' own pool: at most ``report_max_concurrent`` report queries at once, so
    analysts cannot starve the consumer of connections, each with the reports' time limit.

    Custom plans by default, on purpose: asyncpg prepares every statement, and from its sixth
    execution on a connection Postgres may switch to a generic plan, which cannot see which
    filters are NULL. A report is planned in about a millisecond and runs for tens of them,
    so planning each execution for its real parameters costs nothing and keeps every
    execution as fast as the first (the queries also survive a generic plan: report_sql).
    """
    return Database.for_service(
        settings,
        schema=settings.database_schema,
        purpose="reports",
        statement_timeout_seconds=settings.report_statement_timeout_seconds,
        server_settings={"plan_cache_mode": settings.report_plan_cache_mode},
    )


def build_consumer(
    settings: Settings,
    database: Database,
    registry: CollectorRegistry,
    *,
    group: str | None = None,
    max_records: int | None = None,
) -> EventConsumer:
    """The service's consumer alone (replays, rebuilds, benchmarks)."""
    parts = Parts(settings, database, registry)
    return build_service_consumer(
        SERVICE, parts, projection_handler(parts), group=group, max_records=max_records
    )


def projection_handler(parts: Parts[Settings]) -> HandleBatch:
    return parts.unit_of_work(PgProjectionStore).handling(
        projecting(ProjectionMetrics(parts.registry))
    )


def rebuild_group(settings: Settings) -> str:
    return f"{settings.consumer_group}-rebuild"


async def run_rebuild(
    settings: Settings, timeout_seconds: float | None, workers: int = 1
) -> RebuildOutcome:
    """Empties the projections and replays every event of the configured topics, with
    `workers` processes in all (this one and `workers - 1` members)."""
    database = open_rebuild_database(settings)
    async with database_ready(
        database,
        migrations_package=MIGRATIONS_PACKAGE,
        migrate_on_start=True,
        max_size=REPLAY_CONNECTIONS,
    ):

        async def forget() -> None:
            async with database.pool.acquire() as conn, conn.transaction():
                await forget_everything(conn, INBOX_CONSUMER)

        topics = [settings.topic_of(spec) for spec in SERVICE.consumes]
        local = _rebuild_consumer(settings, database)
        return await rebuild(
            positions=KafkaTopicPositions(settings.kafka_bootstrap_servers, topics),
            forget=forget,
            consumer=WithMemberProcesses(local, extra=workers - 1) if workers > 1 else local,
            group=rebuild_group(settings),
            timeout_seconds=timeout_seconds,
        )


async def run_rebuild_member(settings: Settings, parent: int) -> None:
    """One more consumer in the rebuild group, until SIGTERM or until the rebuild that started
    it (process `parent`) is gone (see rebuild_members)."""
    database = open_rebuild_database(settings)
    async with database_ready(
        database,
        migrations_package=MIGRATIONS_PACKAGE,
        migrate_on_start=False,
        max_size=REPLAY_CONNECTIONS,
    ):
        consumer = _rebuild_consumer(settings, database)
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, consumer.stop)
        watch = asyncio.create_task(stop_when_orphaned(consumer, parent))
        try:
            await consumer.run()
        finally:
            watch.cancel()


async def stop_when_orphaned(consumer: Consumer, parent: int, every_seconds: float = 1.0) -> None:
    # A rebuild killed with SIGKILL cannot stop its members; they notice that they were
    # handed to another parent and stop on their own instead of consuming forever. The
    # parent's pid comes from the rebuild itself: read here, it could already be the new one.
    # No event exists for "my parent died" (short of prctl, out of reach here): poll.
    while os.getppid() == parent:  # noqa: ASYNC110
        await asyncio.sleep(every_seconds)
    consumer.stop()


def _rebuild_consumer(settings: Settings, database: Database) -> EventConsumer:
    """The rebuild's consumer, the same in the rebuild's process and in every member's: one
    group, one inbox, the same polls."""
    # The replay reads history, not a trickle: larger polls make larger transactions.
    bigger = max(settings.consumer_max_records, REPLAY_MAX_RECORDS)
    return build_consumer(
        settings,
        database,
        CollectorRegistry(),
        group=rebuild_group(settings),
        max_records=bigger,
    )


def cli() -> None:
    run_cli(
        build_app=build_app,
        rebuild=run_rebuild,
        rebuild_member=run_rebuild_member,
        migrations_package=MIGRATIONS_PACKAGE,
    )
