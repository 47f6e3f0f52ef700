"""What every service's composition root promises, checked the same way for all four, and for
a toy fifth service declared on the same runtime (tests/retour_toy_service.py).

The apps are built with explicit settings pointing at nothing (port 1): building one must do
no I/O, /healthz must answer without dependencies, /readyz must say which are unreachable.
The toy then runs for real: a registration consumed from the broker comes back out of its
outbox, and its stop goes in the runtime's stated order.
"""

from __future__ import annotations

import asyncio
import base64
import importlib
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from fastapi import FastAPI
from retour_toy_service import MIGRATIONS, ToySettings, toy_service

from retour_contracts import (
    AID_GRANTED_V1,
    RETURNEE_REGISTERED_V1,
    AidGranted,
    ReturneeRegistered,
    build_envelope,
    parse_envelope,
)
from retour_contracts.examples import example_returnee_registered
from retour_kit.migrations import migrate
from retour_kit.runtime import STOP_SECONDS, Parts, Wiring, build_service_app
from retour_test_infra import Infra, TopicProbe, eventually

SERVICES = {
    "intake": 8001,
    "reintegration": 8002,
    "notifications": 8003,
    "reporting": 8004,
    "toy": 8005,
}


def settings_and_app(service: str) -> tuple[Any, FastAPI]:
    unreachable: dict[str, Any] = {
        "database_url": f"postgresql://{service}@127.0.0.1:1/unused",
        "auth_jwt_secret": "test-secret-that-is-at-least-32-chars",
        "master_key": f"test:{base64.b64encode(bytes(32)).decode()}",  # read by intake only
        "kafka_bootstrap_servers": "127.0.0.1:1",
    }
    if service == "toy":
        settings = ToySettings(**unreachable)
        return settings, build_service_app(toy_service("unused_migrations"), settings)
    settings_cls = importlib.import_module(f"retour_{service}.settings").Settings
    build_app = importlib.import_module(f"retour_{service}.main").build_app
    settings = settings_cls(**unreachable)
    return settings, build_app(settings)


@pytest.fixture(params=sorted(SERVICES))
async def service(
    request: pytest.FixtureRequest,
) -> AsyncIterator[tuple[str, Any, httpx.AsyncClient]]:
    name: str = request.param
    settings, app = settings_and_app(name)
    # ASGITransport does not run the lifespan: no pool, no Kafka, nothing started.
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield name, settings, client


async def test_defaults_name_the_service_and_its_port(
    service: tuple[str, Any, httpx.AsyncClient],
) -> None:
    name, settings, _ = service
    assert settings.service_name == f"retour-{name}"
    assert type(settings).model_fields["http_port"].default == SERVICES[name]


async def test_healthz_answers_without_touching_dependencies(
    service: tuple[str, Any, httpx.AsyncClient],
) -> None:
    _, _, client = service
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_names_the_unreachable_dependencies(
    service: tuple[str, Any, httpx.AsyncClient],
) -> None:
    _, _, client = service
    response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["status"] == "not_ready"
    assert response.json()["checks"]["postgres"] != "ok"
    assert response.json()["checks"]["kafka"] != "ok"
    assert response.json()["degraded"] == ["kafka"]


@pytest.mark.integration
@pytest.mark.parametrize("name", sorted(set(SERVICES) - {"toy"}))
async def test_a_service_stays_ready_while_kafka_is_down_and_says_so(
    infra: Infra, name: str
) -> None:
    settings_cls = importlib.import_module(f"retour_{name}.settings").Settings
    build_app = importlib.import_module(f"retour_{name}.main").build_app
    settings = settings_cls(
        database_url=infra.dsn(name),
        auth_jwt_secret=infra.jwt_secret,
        master_key=infra.master_key,  # read by intake only
        kafka_bootstrap_servers="127.0.0.1:1",  # nothing listens there
    )
    app = build_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.get("/readyz")

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "ready"
    assert response.json()["checks"]["postgres"] == "ok"
    assert response.json()["checks"]["kafka"] != "ok"
    assert response.json()["degraded"] == ["kafka"]


async def test_metrics_are_served(service: tuple[str, Any, httpx.AsyncClient]) -> None:
    _, _, client = service
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert "http_requests_total" in response.text


@dataclass
class Toy:
    settings: ToySettings
    migrations_package: str
    topics: dict[str, str]


@pytest.fixture
async def toy(infra: Infra, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Toy]:
    """A schema, a migrations package and private copies of the topics for the toy."""
    tag = uuid.uuid4().hex[:10]
    package = tmp_path / f"retour_toy_{tag}"
    (package / "migrations").mkdir(parents=True)
    for name in ("__init__.py", "migrations/__init__.py"):
        (package / name).touch()
    for name, sql in MIGRATIONS.items():
        (package / "migrations" / name).write_text(sql)
    monkeypatch.syspath_prepend(str(tmp_path))
    topics = {event: f"test.toy.{tag}.{event}" for event in ("returnee.registered", "aid.granted")}
    every = [t for topic in topics.values() for t in (topic, f"{topic}.dlq")]
    admin = await asyncpg.connect(infra.admin_dsn)
    kafka = AIOKafkaAdminClient(bootstrap_servers=infra.kafka_bootstrap)
    await kafka.start()
    try:
        await admin.execute(f"CREATE SCHEMA toy_{tag}")
        await kafka.create_topics([NewTopic(t, 2, 1) for t in every])
        settings = ToySettings(
            database_url=infra.admin_dsn,
            auth_jwt_secret=infra.jwt_secret,
            kafka_bootstrap_servers=infra.kafka_bootstrap,
            database_schema=f"toy_{tag}",
            consumer_group=f"test-toy-{tag}",
            returnee_registered_topic=topics["returnee.registered"],
            aid_granted_topic=topics["aid.granted"],
            log_level="WARNING",
        )
        yield Toy(settings, package.name, topics)
    finally:
        await admin.execute(f"DROP SCHEMA IF EXISTS toy_{tag} CASCADE")
        await admin.close()
        await kafka.delete_topics(every)
        await kafka.close()


async def publish(infra: Infra, topic: str, event: ReturneeRegistered) -> None:
    envelope = build_envelope(RETURNEE_REGISTERED_V1, event, source="/test")
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            topic, envelope.value, key=envelope.key, headers=envelope.headers
        )
    finally:
        await producer.stop()


@pytest.mark.integration
async def test_the_toy_consumes_from_the_broker_and_publishes_through_its_outbox(
    infra: Infra, toy: Toy
) -> None:
    app = build_service_app(toy_service(toy.migrations_package), toy.settings)
    registered = example_returnee_registered(returnee_id=uuid.uuid4())
    async with (
        TopicProbe(infra.kafka_bootstrap, toy.topics["aid.granted"]) as offers_topic,
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://toy") as api,
    ):
        await publish(infra, toy.topics["returnee.registered"], registered)
        listed = await eventually(
            lambda: api.get("/offers"),
            until=lambda response: response.json() == [str(registered.returnee_id)],
            within=30,
            what="the registration applied by the toy's consumer",
        )
        records = await offers_topic.collect(lambda found: len(found) >= 1, within=30)
        ready = await api.get("/readyz")

    [record] = records
    offered = parse_envelope(AID_GRANTED_V1.topic, record.key, record.value, record.headers)
    assert listed.status_code == 200
    assert isinstance(offered.event, AidGranted)
    assert offered.event.returnee_id == registered.returnee_id
    assert ready.json()["checks"] == {"postgres": "ok", "kafka": "ok", "consumer": "ok"}


@dataclass
class Journal:
    entries: list[str]

    def resource(self) -> AbstractAsyncContextManager[None]:
        @asynccontextmanager
        async def recorded() -> AsyncIterator[None]:
            self.entries.append("resource entered")
            yield
            self.entries.append("resource left")

        return recorded()


@dataclass
class RecordedWorker:
    journal: Journal
    name: str = "recorded-worker"

    async def run(self, stopping: asyncio.Event) -> None:
        self.journal.entries.append("worker started")
        await stopping.wait()
        self.journal.entries.append("worker finished its work in hand")


@pytest.mark.integration
async def test_the_runtime_starts_and_stops_in_its_stated_order(toy: Toy) -> None:
    journal = Journal([])
    definition = toy_service(toy.migrations_package)

    def wire_and_record(parts: Parts[ToySettings]) -> Wiring:
        wiring = definition.wire(parts)
        return replace(
            wiring,
            resources=[journal.resource],
            workers=lambda: [RecordedWorker(journal)],
        )

    recorded = replace(definition, wire=wire_and_record)
    app = build_service_app(recorded, toy.settings)
    async with app.router.lifespan_context(app):
        migrated = await asyncpg.connect(toy.settings.database_url)
        try:
            tables = await migrated.fetchval(
                "SELECT count(*) FROM pg_tables WHERE schemaname = $1",
                toy.settings.database_schema,
            )
        finally:
            await migrated.close()
        journal.entries.append("serving")
    assert tables == 4  # inbox, outbox, offers, schema_migrations: migrated before serving
    assert journal.entries == [
        "resource entered",
        "worker started",
        "serving",
        "worker finished its work in hand",
        "resource left",
    ]


async def running_tasks() -> set[str]:
    return {task.get_name() for task in asyncio.all_tasks()}


@pytest.mark.integration
async def test_the_runtime_prunes_the_kit_tables_of_a_service_whose_schema_has_them(
    toy: Toy,
) -> None:
    schema = toy.settings.database_schema
    await migrate(toy.settings.database_url, schema=schema, package=toy.migrations_package)
    connection = await asyncpg.connect(toy.settings.database_url)
    try:
        await connection.execute(
            f"INSERT INTO {schema}.inbox (consumer, event_id, processed_at) VALUES"  # noqa: S608
            " ('toy', gen_random_uuid(), now() - interval '31 days'),"
            " ('toy', gen_random_uuid(), now() - interval '40 days'),"
            " ('toy', gen_random_uuid(), now() - interval '29 days')"
        )
        settings = toy.settings.model_copy(update={"retention_interval_seconds": 1})
        app = build_service_app(toy_service(toy.migrations_package), settings)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://toy"
        ) as api:
            async with app.router.lifespan_context(app):
                tasks = await running_tasks()
                left = await eventually(
                    lambda: connection.fetchval(f"SELECT count(*) FROM {schema}.inbox"),  # noqa: S608
                    until=lambda rows: rows == 1,
                    within=15,
                    what="the inbox rows past INBOX_RETENTION_DAYS (30) deleted",
                )
                metrics = (await api.get("/metrics")).text
                stopping = time.monotonic()
            stopped_after = time.monotonic() - stopping
    finally:
        await connection.close()

    assert "kit-retention" in tasks
    assert left == 1  # the 29-day-old row is kept
    assert 'retention_pruned_rows_total{table="inbox"} 2.0' in metrics
    assert stopped_after < STOP_SECONDS  # nothing waited out the stop budget


@pytest.mark.integration
async def test_the_runtime_adds_no_retention_to_a_service_without_those_tables(
    toy: Toy, tmp_path: Path
) -> None:
    # The toy without its consumer: a schema with the outbox alone has nothing to prune.
    package = tmp_path / f"retour_toy_publisher_{uuid.uuid4().hex[:8]}"
    (package / "migrations").mkdir(parents=True)
    (package / "__init__.py").touch()
    (package / "migrations" / "__init__.py").write_text('KIT_TABLES = ("outbox",)\n')
    (package / "migrations" / "0001_offers.sql").write_text(MIGRATIONS["0001_offers.sql"])
    definition = toy_service(package.name)

    def wire_without_handler(parts: Parts[ToySettings]) -> Wiring:
        return replace(definition.wire(parts), handler=None)

    publisher = replace(definition, consumes=(), wire=wire_without_handler)
    app = build_service_app(publisher, toy.settings)
    async with app.router.lifespan_context(app):
        tasks = await running_tasks()

    assert "outbox-relay" in tasks
    assert "kit-retention" not in tasks
