"""Composition root of the reintegration service: the one place where its parts are wired."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import version

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from retour_contracts import RETURNEE_REGISTERED_V1
from retour_kit.cli import service_cli
from retour_kit.consuming import (
    ConsumerMetrics,
    ConsumerSettings,
    EventConsumer,
    Subscription,
)
from retour_kit.db import Database
from retour_kit.http import create_http_app
from retour_kit.kafka_publisher import KafkaRecordPublisher
from retour_kit.lifespan import database_ready
from retour_kit.logging import configure_logging
from retour_kit.metrics import new_registry
from retour_kit.outbox import OutboxRelay
from retour_kit.outbox_metrics import PrometheusOutboxMetrics
from retour_kit.readiness import kafka_ready, postgres_ready
from retour_reintegration import background
from retour_reintegration.domain.aid import ReintegrationBudget
from retour_reintegration.entrypoints.activities_api import activities_router
from retour_reintegration.entrypoints.cases_api import cases_router
from retour_reintegration.entrypoints.context import ApiContext
from retour_reintegration.entrypoints.registrations import open_cases_on_registrations
from retour_reintegration.entrypoints.rule_violations import install_rule_violation_handler
from retour_reintegration.settings import Settings

SCHEMA = "reintegration"
MIGRATIONS_PACKAGE = "retour_reintegration"
INBOX_CONSUMER = "reintegration"


def build_app(settings: Settings) -> FastAPI:
    configure_logging(settings.service_name, settings.log_level)
    registry = new_registry()
    database = Database.for_service(settings, schema=SCHEMA)
    consumer = build_consumer(settings, database, registry)
    publisher = KafkaRecordPublisher(
        settings.kafka_bootstrap_servers, client_id=f"{settings.service_name}-outbox"
    )
    relay = OutboxRelay(
        dsn=settings.database_url,
        schema=SCHEMA,
        publisher=publisher,
        metrics=PrometheusOutboxMetrics(registry),
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            async with (
                database_ready(
                    database,
                    migrations_package=MIGRATIONS_PACKAGE,
                    migrate_on_start=settings.migrate_on_start,
                ),
                background.running(consumer, relay),
            ):
                yield
        finally:
            await publisher.close()

    app = create_http_app(
        title="retour reintegration",
        version=version("retour-reintegration"),
        settings=settings,
        lifespan=lifespan,
        readiness=[postgres_ready(database), kafka_ready(settings.kafka_bootstrap_servers)],
        registry=registry,
    )
    context = ApiContext(
        database=database,
        schema=SCHEMA,
        budget=ReintegrationBudget(limit=settings.reintegration_budget_xof, currency="XOF"),
    )
    install_rule_violation_handler(app)
    app.include_router(cases_router(context))
    app.include_router(activities_router(context))
    return app


def build_consumer(
    settings: Settings, database: Database, registry: CollectorRegistry
) -> EventConsumer:
    consumer_settings = ConsumerSettings(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=settings.consumer_group,
        # The inbox name stays "reintegration" whatever the group: a replay under another
        # group recognises every event already applied.
        consumer_name=INBOX_CONSUMER,
        client_id=settings.service_name,
        session_timeout_ms=settings.consumer_session_timeout_ms,
        subscriptions=(Subscription(RETURNEE_REGISTERED_V1, topic=settings.registrations_topic),),
    )
    return EventConsumer(
        consumer_settings,
        database=database,
        handler=open_cases_on_registrations,
        metrics=ConsumerMetrics.register(registry),
    )


def cli() -> None:
    service_cli(
        settings_cls=Settings,
        build_app=build_app,
        schema=SCHEMA,
        migrations_package=MIGRATIONS_PACKAGE,
    )
