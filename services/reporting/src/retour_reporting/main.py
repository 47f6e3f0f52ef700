"""Composition root of the reporting service: the one place where its parts are wired."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import version

import structlog
from fastapi import FastAPI

from retour_kit.cli import service_cli
from retour_kit.db import Database
from retour_kit.http import create_http_app
from retour_kit.logging import configure_logging
from retour_kit.metrics import new_registry
from retour_kit.migrations import migrate
from retour_kit.readiness import kafka_ready, postgres_ready
from retour_reporting.settings import Settings

SCHEMA = "reporting"
MIGRATIONS_PACKAGE = "retour_reporting"


def build_app(settings: Settings) -> FastAPI:
    configure_logging(settings.service_name, settings.log_level)
    database = Database(
        settings.database_url, schema=SCHEMA, application_name=settings.service_name
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await database.open()
        try:
            if settings.migrate_on_start:
                async with database.pool.acquire() as connection:
                    applied = await migrate(connection, schema=SCHEMA, package=MIGRATIONS_PACKAGE)
                structlog.stdlib.get_logger(__name__).info("migrations up to date", applied=applied)
            yield
        finally:
            await database.close()

    return create_http_app(
        title="retour reporting",
        version=version("retour-reporting"),
        settings=settings,
        lifespan=lifespan,
        readiness=[postgres_ready(database), kafka_ready(settings.kafka_bootstrap_servers)],
        registry=new_registry(),
    )


def cli() -> None:
    service_cli(
        settings_cls=Settings,
        build_app=build_app,
        schema=SCHEMA,
        migrations_package=MIGRATIONS_PACKAGE,
    )
