"""Composition root of the intake service: the one place where its parts are wired."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from importlib.metadata import version

from fastapi import FastAPI

from retour_intake.adapters.metrics import IntakeMetrics
from retour_intake.adapters.unit_of_work import SCHEMA, unit_of_work_factory
from retour_intake.entrypoints.http import returnee_routes
from retour_intake.settings import Settings
from retour_kit.cli import service_cli
from retour_kit.db import Database
from retour_kit.http import create_http_app
from retour_kit.kafka_publisher import KafkaRecordPublisher
from retour_kit.lifespan import database_ready
from retour_kit.logging import configure_logging
from retour_kit.metrics import new_registry
from retour_kit.outbox import OutboxRelay
from retour_kit.outbox_metrics import PrometheusOutboxMetrics
from retour_kit.readiness import kafka_ready, postgres_ready

MIGRATIONS_PACKAGE = "retour_intake"


def build_app(settings: Settings) -> FastAPI:
    configure_logging(settings.service_name, settings.log_level)
    registry = new_registry()
    database = Database.for_service(settings, schema=SCHEMA)
    publisher = KafkaRecordPublisher(
        settings.kafka_bootstrap_servers, client_id=settings.service_name
    )
    relay = OutboxRelay(
        dsn=settings.database_url,
        schema=SCHEMA,
        publisher=publisher,
        metrics=PrometheusOutboxMetrics(registry),
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with database_ready(
            database,
            migrations_package=MIGRATIONS_PACKAGE,
            migrate_on_start=settings.migrate_on_start,
        ):
            relay_task = asyncio.create_task(relay.run_forever(), name="outbox-relay")
            try:
                yield
            finally:
                relay_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await relay_task
                await publisher.close()

    app = create_http_app(
        title="retour intake",
        version=version("retour-intake"),
        settings=settings,
        lifespan=lifespan,
        readiness=[
            postgres_ready(database),
            # Registrations go to the outbox, so intake serves while Kafka is down.
            replace(kafka_ready(settings.kafka_bootstrap_servers), required=False),
        ],
        registry=registry,
    )
    app.include_router(
        returnee_routes(
            start_unit_of_work=unit_of_work_factory(lambda: database.pool),
            pool=lambda: database.pool,
            metrics=IntakeMetrics(registry),
            programme_start=settings.programme_start,
        )
    )
    return app


def cli() -> None:
    service_cli(
        settings_cls=Settings,
        build_app=build_app,
        schema=SCHEMA,
        migrations_package=MIGRATIONS_PACKAGE,
    )
