"""Composition root of the intake service: what it is, declared on the kit's runtime."""

from fastapi import FastAPI

from retour_intake.adapters.metrics import IntakeMetrics
from retour_intake.adapters.pg_protection import PgProtection
from retour_intake.adapters.unit_of_work import SCHEMA, PgReads, PgRegistrationUnitOfWork
from retour_intake.entrypoints.data_requests import data_request_routes
from retour_intake.entrypoints.http import returnee_routes
from retour_intake.settings import Settings
from retour_kit.access_log import PgAccessLog
from retour_kit.audit_routes import audit_router
from retour_kit.runtime import Parts, ServiceDefinition, Wiring, build_service_app, service_command

MIGRATIONS_PACKAGE = "retour_intake"


def wire(parts: Parts[Settings]) -> Wiring:
    routes = returnee_routes(
        registrations=parts.unit_of_work(PgRegistrationUnitOfWork),
        reads=parts.unit_of_work(PgReads),
        metrics=IntakeMetrics(parts.registry),
        programme_start=parts.settings.programme_start,
    )
    access_log = parts.unit_of_work(lambda conn: PgAccessLog(conn, service=SCHEMA))
    requests = data_request_routes(parts.unit_of_work(PgProtection))
    return Wiring(routers=[routes, requests, audit_router(access_log)])


SERVICE = ServiceDefinition(
    name=SCHEMA,
    settings=Settings,
    wire=wire,
    migrations_package=MIGRATIONS_PACKAGE,
    outbox=True,
)


def build_app(settings: Settings) -> FastAPI:
    return build_service_app(SERVICE, settings)


cli = service_command(SERVICE)
