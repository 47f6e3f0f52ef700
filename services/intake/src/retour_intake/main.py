"""Composition root of the intake service: what it is, declared on the kit's runtime."""

from collections.abc import Sequence
from uuid import UUID

from fastapi import FastAPI

from retour_contracts import RETURNEE_REGISTERED_V2, ReturneeRegistered
from retour_intake.adapters.data_keys import PgDataKeys, PgExpectedDataKeys
from retour_intake.adapters.metrics import IntakeMetrics
from retour_intake.adapters.pg_devices import PgDevices
from retour_intake.adapters.pg_expected import PgExpected
from retour_intake.adapters.pg_key_release import PgKeyRelease
from retour_intake.adapters.pg_protection import PgProtection
from retour_intake.adapters.pg_reviews import PgReviews
from retour_intake.adapters.unit_of_work import SCHEMA, PgReads, PgRegistrationUnitOfWork
from retour_intake.domain.history import HistoryKeys
from retour_intake.entrypoints.corrections import correction_routes
from retour_intake.entrypoints.data_keys import data_key_routes
from retour_intake.entrypoints.data_requests import data_request_routes
from retour_intake.entrypoints.duplicates import duplicate_routes
from retour_intake.entrypoints.expected_arrivals import (
    expected_arrival_routes,
    manifest_body_rule,
)
from retour_intake.entrypoints.expected_worker import ExpectedArrivalCloser
from retour_intake.entrypoints.http import returnee_routes
from retour_intake.entrypoints.openrosa import openrosa_routes, submission_body_rule
from retour_intake.entrypoints.web_form import web_form_routes
from retour_intake.history import seal_history
from retour_intake.registering import RegistrationDesk
from retour_intake.settings import Settings
from retour_kit.access_log import PgAccessLog
from retour_kit.audit_routes import audit_router
from retour_kit.cli import OperatorCommand
from retour_kit.runtime import (
    Parts,
    ServiceDefinition,
    Wiring,
    Worker,
    build_service_app,
    service_command,
)

MIGRATIONS_PACKAGE = "retour_intake"


def wire(parts: Parts[Settings]) -> Wiring:
    master_keys = parts.settings.master_keys()
    registrations = parts.unit_of_work(PgRegistrationUnitOfWork.binder(master_keys))
    metrics = IntakeMetrics(parts.registry)  # one set, shared by every way in
    routes = returnee_routes(
        registrations=registrations,
        reads=parts.unit_of_work(PgReads),
        metrics=metrics,
        programme_start=parts.settings.programme_start,
    )
    access_log = parts.unit_of_work(lambda conn: PgAccessLog(conn, service=SCHEMA))
    requests = data_request_routes(parts.unit_of_work(PgProtection))
    keys = data_key_routes(
        parts.unit_of_work(PgKeyRelease.binder(master_keys)),
        cache_seconds=parts.settings.data_key_cache_seconds,
    )
    corrections = correction_routes(registrations, programme_start=parts.settings.programme_start)
    reviews = duplicate_routes(parts.unit_of_work(PgReviews))
    expected = parts.unit_of_work(PgExpected.binder(master_keys))
    settings = parts.settings

    def workers() -> list[Worker]:
        closer = ExpectedArrivalCloser(
            expected,
            close_after_days=settings.expected_arrival_close_after_days,
            interval_seconds=settings.expected_arrival_check_seconds,
            metrics=metrics,
        )
        return [closer]

    return Wiring(
        workers=workers,
        body_rules={
            **manifest_body_rule(settings.expected_arrivals_max_body_bytes),
            **submission_body_rule(),
        },
        routers=[
            routes,
            corrections,
            reviews,
            requests,
            keys,
            openrosa_routes(
                parts.unit_of_work(PgDevices),
                RegistrationDesk(registrations, metrics, parts.settings.programme_start),
                max_submission_bytes=parts.settings.http_max_body_bytes,
            ),
            expected_arrival_routes(work=expected, metrics=metrics),
            audit_router(access_log),
            web_form_routes(),
        ],
    )


async def rewrap_keys(settings: Settings) -> str:
    """Moves every data key to the current master key (after a rotation), in batches that
    each commit, so an interrupted run resumes where it stopped."""
    master_keys = settings.master_keys()
    database = SERVICE.database(settings)
    pool = await database.open(min_size=1, max_size=1)
    moved = 0
    try:
        while True:
            async with pool.acquire() as conn, conn.transaction():
                done = await PgDataKeys(conn, master_keys).rewrap()
                done += await PgExpectedDataKeys(conn, master_keys).rewrap()
            if done == 0:
                return f"{moved} data keys rewrapped under master key {master_keys.current_id}"
            moved += done
    finally:
        await database.close()


async def seal_registration_history(settings: Settings) -> str:
    """Seals the version 1 registrations still on ``returnee.registered`` and its dead-letter
    topic, then deletes them (docs/operations.md, "Sealing the history")."""
    master_keys = settings.master_keys()
    database = SERVICE.database(settings)
    pool = await database.open(min_size=1, max_size=1)

    async def keys_of(returnee_ids: Sequence[UUID]) -> HistoryKeys:
        async with pool.acquire() as conn, conn.transaction():
            return await PgDataKeys(conn, master_keys).for_sealing_history(returnee_ids)

    try:
        topic = RETURNEE_REGISTERED_V2.topic
        done = []
        reissued: dict[UUID, ReturneeRegistered] = {}  # shared by both topics
        for name in (topic, f"{topic}.dlq"):
            tally = await seal_history(
                name,
                bootstrap=settings.kafka_bootstrap_servers,
                keys_of=keys_of,
                reissued=reissued,
            )
            done.append(f"{name}: " + ", ".join(f"{k} {v}" for k, v in sorted(tally.items())))
        return "; ".join(done)
    finally:
        await database.close()


SERVICE = ServiceDefinition(
    name=SCHEMA,
    description=(
        "Registers returnees at the reception centres (Bamako, Kayes, Gao), from the API, the"
        " offline web form and ODK Collect: duplicates are detected before a person is"
        " registered twice, corrections and merges keep one record per person, and expected"
        " arrivals (manifests) are matched on arrival. The person's own decisions (consents,"
        " erasure) are taken here, and personal data leaves only sealed under the person's data"
        " key, which this service releases to the services entitled to it. Every registration"
        " is published as `returnee.registered`."
    ),
    settings=Settings,
    wire=wire,
    migrations_package=MIGRATIONS_PACKAGE,
    outbox=True,
    schema_of=lambda settings: settings.database_schema,
    commands={
        "rewrap-keys": OperatorCommand(
            help="rewrap every data key under MASTER_KEY (after a master key rotation)",
            run=rewrap_keys,
        ),
        "seal-history": OperatorCommand(
            help="seal the registrations published before version 2, then delete the originals",
            run=seal_registration_history,
        ),
    },
)


def build_app(settings: Settings) -> FastAPI:
    return build_service_app(SERVICE, settings)


cli = service_command(SERVICE)
