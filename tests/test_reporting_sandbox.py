"""A private corner of the shared stack for the reporting tests.

Each sandbox has its own copies of the three topics (with their .dlq), its own consumer
group and its own schema owned by the reporting role, so the tests know exactly which events
the projections hold, and a rebuild there cannot empty the projections of the reporting
service the stack runs. The service reaches them only through its settings.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from retour_contracts import Event, build_envelope, spec_for_model
from retour_kit.migrations import migrate
from retour_reporting.main import MIGRATIONS_PACKAGE
from retour_reporting.settings import Settings
from retour_test_infra import Infra

pytestmark = pytest.mark.integration

PARTITIONS = 6
Record = tuple[str, bytes, bytes, list[tuple[str, bytes]]]  # topic, key, value, headers


@dataclass(frozen=True)
class Sandbox:
    infra: Infra
    schema: str
    topics: dict[str, str]  # event topic -> private copy
    group: str

    def settings(self, **changes: Any) -> Settings:
        return Settings(
            database_url=self.infra.dsn("reporting"),
            auth_jwt_secret=self.infra.jwt_secret,
            kafka_bootstrap_servers=self.infra.kafka_bootstrap,
            database_schema=self.schema,
            consumer_group=self.group,
            returnee_registered_topic=self.topics["returnee.registered"],
            aid_granted_topic=self.topics["aid.granted"],
            activity_launched_topic=self.topics["activity.launched"],
            **changes,
        )

    def environment(self) -> dict[str, str]:
        """The same settings as environment variables, for the ``retour-reporting`` command."""
        return {
            "DATABASE_URL": self.infra.dsn("reporting"),
            "AUTH_JWT_SECRET": self.infra.jwt_secret,
            "KAFKA_BOOTSTRAP_SERVERS": self.infra.kafka_bootstrap,
            "DATABASE_SCHEMA": self.schema,
            "CONSUMER_GROUP": self.group,
            "RETURNEE_REGISTERED_TOPIC": self.topics["returnee.registered"],
            "AID_GRANTED_TOPIC": self.topics["aid.granted"],
            "ACTIVITY_LAUNCHED_TOPIC": self.topics["activity.launched"],
        }

    def records(self, events: Sequence[Event], *, source: str = "/test") -> list[Record]:
        """Events as the producing services would publish them, to the private topics."""
        records: list[Record] = []
        for event in events:
            spec = spec_for_model(type(event))
            envelope = build_envelope(spec, event, source=source)
            records.append(
                (self.topics[spec.topic], envelope.key, envelope.value, envelope.headers)
            )
        return records

    async def produce(self, records: Sequence[Record]) -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=self.infra.kafka_bootstrap,
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
        )
        await producer.start()
        try:
            sent = [
                await producer.send(topic, value, key=key, headers=headers)
                for topic, key, value, headers in records
            ]
            await asyncio.gather(*sent)
        finally:
            await producer.stop()

    async def connect(self) -> asyncpg.Connection:
        conn = await asyncpg.connect(self.infra.dsn("reporting"))
        await conn.execute(f"SET search_path = {self.schema}")
        return conn


@asynccontextmanager
async def reporting_sandbox(infra: Infra) -> AsyncIterator[Sandbox]:
    tag = uuid.uuid4().hex[:10]
    sandbox = Sandbox(
        infra=infra,
        schema=f"reporting_test_{tag}",
        topics={
            t: f"test.reporting.{tag}.{t}"
            for t in ("returnee.registered", "aid.granted", "activity.launched")
        },
        group=f"test-reporting-{tag}",
    )
    admin_db = await asyncpg.connect(infra.admin_dsn)
    kafka = AIOKafkaAdminClient(bootstrap_servers=infra.kafka_bootstrap)
    await kafka.start()
    names = [*sandbox.topics.values(), *(f"{t}.dlq" for t in sandbox.topics.values())]
    try:
        await admin_db.execute(f"CREATE SCHEMA {sandbox.schema} AUTHORIZATION reporting")
        await kafka.create_topics(
            [NewTopic(n, num_partitions=PARTITIONS, replication_factor=1) for n in names]
        )
        await migrate(infra.dsn("reporting"), schema=sandbox.schema, package=MIGRATIONS_PACKAGE)
        yield sandbox
    finally:
        await admin_db.execute(f"DROP SCHEMA IF EXISTS {sandbox.schema} CASCADE")
        await admin_db.close()
        await kafka.delete_topics(names)
        await kafka.close()


async def inbox_count(sandbox: Sandbox) -> int:
    conn = await sandbox.connect()
    try:
        return int(await conn.fetchval("SELECT count(*) FROM inbox"))
    finally:
        await conn.close()


async def table_checksums(sandbox: Sandbox) -> dict[str, str]:
    """One digest per projection table, over its rows in key order."""
    conn = await sandbox.connect()
    try:
        keys = {
            "registrations": "returnee_id",
            "aid": "aid_id",
            "activities": "activity_id",
            "activity_participants": "activity_id, returnee_id",
        }
        return {
            table: await conn.fetchval(
                f"SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, '|' ORDER BY {key})),"  # noqa: S608
                f" '') FROM {table} t"
            )
            for table, key in keys.items()
        }
    finally:
        await conn.close()


async def test_a_sandbox_schema_belongs_to_the_reporting_role_and_goes_away(infra: Infra) -> None:
    async with reporting_sandbox(infra) as sandbox:
        conn = await sandbox.connect()
        try:
            owner = await conn.fetchval(
                "SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = $1",
                sandbox.schema,
            )
            tables = await conn.fetchval(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = $1",
                sandbox.schema,
            )
        finally:
            await conn.close()
    admin = await asyncpg.connect(infra.admin_dsn)
    try:
        left = await admin.fetchval(
            "SELECT count(*) FROM pg_namespace WHERE nspname = $1", sandbox.schema
        )
    finally:
        await admin.close()

    assert owner == "reporting"
    assert tables >= 5
    assert left == 0
