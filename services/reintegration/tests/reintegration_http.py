"""What the HTTP tests of reintegration share (test_api, test_case_work_api, test_plans_api):
the app its composition root builds, served with its lifespan running against the real database
and broker, consuming topics of the test module's own; staff members calling it; cases opened
the real way, from registrations its consumer reads; and events read back from the real topics,
checked against the committed schemas."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import jsonschema
from aiokafka import AIOKafkaProducer

from retour_contracts import (
    RETURNEE_REGISTERED_V1,
    EventSpec,
    build_envelope,
    parse_envelope,
)
from retour_contracts.examples import example_returnee_registered
from retour_kit.auth import Role, issue_dev_token
from retour_reintegration.main import build_app
from retour_reintegration.settings import Settings
from retour_test_infra import Infra, TopicProbe, eventually
from retour_test_inprocess import private_topics, running_app

SCHEMAS = Path(__file__).resolve().parents[3] / "contracts" / "schemas"
TODAY = datetime.now(UTC).date()


class Staff:
    """Requests as one staff member, of ``centres`` (every centre without); every POST and
    PATCH carries ``key`` as its Idempotency-Key, or a fresh one."""

    def __init__(
        self, client: httpx.AsyncClient, secret: str, role: Role, subject: str, *centres: str
    ) -> None:
        self.client = client
        self.subject = subject
        token = issue_dev_token(secret, role, subject=subject, centres=centres or None)
        self.headers = {"Authorization": f"Bearer {token}"}

    async def get(self, path: str, **params: Any) -> httpx.Response:
        return await self.client.get(path, params=params, headers=self.headers)

    async def post(self, path: str, body: Any, key: str | None = None) -> httpx.Response:
        return await self.client.post(path, json=body, headers=self._with(key))

    async def patch(self, path: str, body: Any, key: str | None = None) -> httpx.Response:
        return await self.client.patch(path, json=body, headers=self._with(key))

    def _with(self, key: str | None) -> dict[str, str]:
        return {**self.headers, "Idempotency-Key": key or str(uuid.uuid4())}


class CaseOpener:
    """Opens cases the real way: registrations produced to the topic the app consumes, each
    case awaited until ``reader`` sees it open."""

    def __init__(self, producer: AIOKafkaProducer, topic: str, reader: Staff) -> None:
        self._producer = producer
        self._topic = topic
        self._reader = reader

    async def __call__(self, centre: str = "gao", arrival: date = TODAY) -> UUID:
        (returnee_id,) = await self.many(1, centre=centre, arrival=arrival)
        return returnee_id

    async def many(self, count: int, centre: str = "gao", arrival: date = TODAY) -> list[UUID]:
        ids = [uuid.uuid4() for _ in range(count)]
        for returnee_id in ids:
            event = example_returnee_registered(
                returnee_id=returnee_id,
                arrival_date=arrival.isoformat(),
                registered_at=datetime.now(UTC),
                reception_centre=centre,
                personal={"date_of_birth": None},  # the example's would not match age_years
            )
            envelope = build_envelope(RETURNEE_REGISTERED_V1, event, source="/intake")
            await self._producer.send_and_wait(
                self._topic, envelope.value, key=envelope.key, headers=envelope.headers
            )

        async def statuses() -> list[int]:
            return [(await self._reader.get(f"/cases/{each}")).status_code for each in ids]

        await eventually(
            statuses,
            until=lambda codes: set(codes) == {200},
            every=0.05,
            what=f"the consumer opening the cases of {count} returnees",
        )
        return ids


@dataclass(frozen=True)
class ServedApp:
    infra: Infra
    client: httpx.AsyncClient
    topics: dict[str, str]
    """The topic of the module's own the app consumes for each event named (by event)."""

    def staff(self, role: Role, subject: str, *centres: str) -> Staff:
        return Staff(self.client, self.infra.jwt_secret, role, subject, *centres)

    @asynccontextmanager
    async def opening_cases(self, reader: Staff) -> AsyncIterator[CaseOpener]:
        producer = AIOKafkaProducer(
            bootstrap_servers=self.infra.kafka_bootstrap, acks="all", enable_idempotence=True
        )
        await producer.start()
        try:
            yield CaseOpener(producer, self.topics["returnee.registered"], reader)
        finally:
            await producer.stop()


@asynccontextmanager
async def served(
    infra: Infra,
    name: str,
    *,
    events: Iterable[str] = ("returnee.registered",),
    partitions: int,
    **settings: Any,
) -> AsyncIterator[ServedApp]:
    """The app, consuming a topic of the module's own for each of ``events`` (the others: the
    real ones), as a consumer group of its own; ``settings`` besides."""
    async with private_topics(infra, f"reintegration.{name}", events, partitions=partitions) as t:
        configured = Settings(
            database_url=infra.dsn("reintegration"),
            auth_jwt_secret=infra.jwt_secret,
            kafka_bootstrap_servers=infra.kafka_bootstrap,
            consumer_group=f"test-{name}-{uuid.uuid4().hex[:8]}",
            **_topic_settings(t),
            **settings,
        )
        async with running_app(build_app(configured)) as client:
            yield ServedApp(infra, client, t)


def _topic_settings(topics: dict[str, str]) -> dict[str, Any]:
    """``returnee.registered`` -> ``returnee_registered_topic``, as Settings names them."""
    return {f"{event.replace('.', '_')}_topic": topic for event, topic in topics.items()}


def assert_on_the_wire(record: Any, spec: EventSpec[Any]) -> Any:
    """The record is valid against the committed schema, comes from reintegration, and parses
    as the contract's event (returned)."""
    schema = json.loads((SCHEMAS / spec.schema_file).read_text())
    jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    ).validate(json.loads(record.value))
    assert dict(record.headers)["ce_source"] == b"/reintegration"
    return parse_envelope(spec.topic, record.key, record.value, record.headers).event


async def first_with(probe: TopicProbe, field: str, value: str) -> Any:
    """The first record the probe reads whose body has ``field`` = ``value``."""
    records = await probe.collect(
        lambda read: any(json.loads(r.value).get(field) == value for r in read)
    )
    found = [r for r in records if json.loads(r.value).get(field) == value]
    assert found, f"no {probe.topic} record with {field}={value}"
    return found[0]
