"""A private corner of the shared stack for the reporting tests.

Each sandbox has its own copies of the topics reporting reads (with their .dlq), its own consumer
group and its own schema owned by the reporting role, so the tests know exactly which events
the projections hold, and a rebuild there cannot empty the projections of the reporting
service the stack runs. The service reaches them only through its settings.

Beside it, what the reporting tests share: the service running over a sandbox and what was
published to it (``Reporting``), a rebuild, two transactions applying events at the same moment,
and the reports compared with the oracle of test_reporting_history.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Generic, TypeVar

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from prometheus_client.parser import text_string_to_metric_families
from test_reporting_history import Oracle, Query

from retour_contracts import (
    CaseEvent,
    Event,
    ExpectationEvent,
    ReturneeMerged,
    ReturneeUpdated,
    build_envelope,
    spec_for_model,
)
from retour_kit.auth import issue_dev_token
from retour_kit.migrations import migrate
from retour_reporting.adapters.pg_projections import PgProjectionStore
from retour_reporting.domain.projection import Projected, rows_for
from retour_reporting.main import MIGRATIONS_PACKAGE, SERVICE, build_app
from retour_reporting.settings import Settings
from retour_reporting.usecases.projecting import apply_rows
from retour_test_infra import Infra, eventually

pytestmark = pytest.mark.integration

PARTITIONS = 6
SERVICE_COMMAND = str(Path(sys.executable).with_name("retour-reporting"))
Record = tuple[str, bytes, bytes, list[tuple[str, bytes]]]  # topic, key, value, headers
AnyEvent = Event | ReturneeUpdated | ReturneeMerged
Published = AnyEvent | CaseEvent | ExpectationEvent
"""Every event reporting reads."""


@dataclass(frozen=True)
class Sandbox:
    infra: Infra
    schema: str
    topics: dict[str, str]  # event topic -> private copy
    group: str

    def settings(self, **changes: Any) -> Settings:
        topics: dict[str, Any] = {_topic_setting(t): copy for t, copy in self.topics.items()}
        return Settings(
            database_url=self.infra.dsn("reporting"),
            auth_jwt_secret=self.infra.jwt_secret,
            kafka_bootstrap_servers=self.infra.kafka_bootstrap,
            database_schema=self.schema,
            consumer_group=self.group,
            **topics,
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
            **{_topic_setting(topic).upper(): copy for topic, copy in self.topics.items()},
        }

    def records(
        self,
        events: Sequence[Published],
        *,
        source: str = "/test",
        times: Sequence[datetime | None] | None = None,
    ) -> list[Record]:
        """Events as the producing services would publish them, to the private topics;
        ``times``, one per event, are when they were published (``ce_time``; else now)."""
        records: list[Record] = []
        for event, time in zip(events, times or [None] * len(events), strict=True):
            spec = spec_for_model(type(event))
            envelope = build_envelope(spec, event, source=source, time=time)
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

    async def rebuild(self, *, workers: int) -> tuple[int | None, dict[str, Any]]:
        """Runs ``retour-reporting rebuild`` over the sandbox: its exit code, and the summary
        it prints last."""
        process = await asyncio.create_subprocess_exec(
            SERVICE_COMMAND,
            "rebuild",
            "--timeout",
            "60",
            "--workers",
            str(workers),
            env={**os.environ, **self.environment(), "LOG_LEVEL": "WARNING"},
            stdout=asyncio.subprocess.PIPE,
        )
        async with asyncio.timeout(90):
            output, _ = await process.communicate()
        summary: dict[str, Any] = json.loads(output.decode().strip().splitlines()[-1])
        return process.returncode, summary


def _topic_setting(topic: str) -> str:
    """The setting naming where ``topic`` is read from (``ConsumingSettings.topic_of``)."""
    return f"{topic.replace('.', '_')}_topic"


@asynccontextmanager
async def reporting_sandbox(infra: Infra) -> AsyncIterator[Sandbox]:
    tag = uuid.uuid4().hex[:10]
    sandbox = Sandbox(
        infra=infra,
        schema=f"reporting_test_{tag}",
        # Every topic reporting reads: one left out would be read from the stack's own.
        topics={spec.topic: f"test.reporting.{tag}.{spec.topic}" for spec in SERVICE.consumes},
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


PROJECTION_KEYS = {
    "registrations": "returnee_id",
    "aid": "aid_id",
    "activities": "activity_id",
    "activity_participants": "activity_id, returnee_id",
    "case_closures": "returnee_id, closed_at",
    "case_reopenings": "returnee_id, reopened_at",
    "plans_agreed": "returnee_id, revision",
    "referrals": "referral_id",
    "follow_ups": "follow_up_id",
    "assessments": "assessment_id",
}
"""Each projection table, and the columns its rows are ordered by for a digest."""


async def table_checksums(
    sandbox: Sandbox, keys: Mapping[str, str] = PROJECTION_KEYS
) -> dict[str, str]:
    """One digest per table of ``keys`` (by default each projection), over its rows in key
    order."""
    conn = await sandbox.connect()
    try:
        return {
            table: await conn.fetchval(
                f"SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, '|' ORDER BY {key})),"  # noqa: S608
                f" '') FROM {table} t"
            )
            for table, key in keys.items()
        }
    finally:
        await conn.close()


# ---- the service running over a sandbox ---------------------------------------------------------


@asynccontextmanager
async def reporting_api(sandbox: Sandbox) -> AsyncIterator[httpx.AsyncClient]:
    """The reporting service over ``sandbox``, started (its consumer too), and a client to its
    API with an analyst's token."""
    app = build_app(sandbox.settings(log_level="WARNING"))
    token = issue_dev_token(sandbox.infra.jwt_secret, "analyst")
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://reporting",
            headers={"Authorization": f"Bearer {token}"},
        ) as http,
    ):
        yield http


E = TypeVar("E", bound=Published)


@dataclass
class Reporting(Generic[E]):
    """The service running over a sandbox (``reporting_api``), the records published to it,
    and its reports."""

    sandbox: Sandbox
    http: httpx.AsyncClient
    records: list[Record]

    @property
    def produced(self) -> int:
        return len(self.records)

    async def publish(self, events: Sequence[E]) -> list[Record]:
        records = self.sandbox.records(events)
        await self.sandbox.produce(records)
        self.records.extend(records)
        await self.settled()
        return records

    async def settled(self) -> None:
        """Waits until every event produced so far is applied (each has its own ce_id)."""
        await eventually(
            lambda: inbox_count(self.sandbox),
            until=lambda rows: rows >= self.produced,
            within=60,
            what=f"{self.produced} events in the inbox",
        )

    async def report(self, name: str, params: dict[str, str]) -> dict[str, Any]:
        response = await self.http.get(f"/reports/{name}", params=params)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def duplicates(self) -> float:
        """Events the consumer skipped as already applied (``consumer_duplicates_total``)."""
        text = (await self.http.get("/metrics")).text
        return sum(
            sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == "consumer_duplicates_total"
        )


# ---- two transactions at once -------------------------------------------------------------------


async def apply_at_the_same_moment(
    sandbox: Sandbox, first: Sequence[Projected], second: Sequence[Projected], *, what: str
) -> bool:
    """Applies ``first`` in a transaction left open, and ``second`` in another while it is; the
    first commits once the second is applied or waits on a lock. Returns whether the second
    was applied before the first committed (``what`` names it while it is awaited)."""
    one, two, watch = [await sandbox.connect() for _ in range(3)]
    try:
        open_one = one.transaction()
        await open_one.start()
        await apply_rows(PgProjectionStore(one), rows_for(first))

        async def apply_second() -> None:
            async with two.transaction():
                await apply_rows(PgProjectionStore(two), rows_for(second))

        applying = asyncio.create_task(apply_second())

        async def done_or_waiting() -> bool:
            waits = await watch.fetchval(
                "SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1",
                two.get_server_pid(),
            )
            return applying.done() or waits == "Lock"

        await eventually(done_or_waiting, what=f"{what} applied or waiting")
        applied_before = applying.done()
        await open_one.commit()
        await applying
    finally:
        for conn in (one, two, watch):
            await conn.close()
    return applied_before


# ---- the reports, compared with the oracle ------------------------------------------------------


def oracle_query(params: dict[str, str], what: dict[str, str] | None = None) -> Query:
    """The oracle's query for a report's parameters (``what``: those of aid or activities)."""
    filters = dict(params)
    first, last = filters.pop("from", None), filters.pop("to", None)
    return Query(
        first_day=date.fromisoformat(first) if first else None,
        last_day=date.fromisoformat(last) if last else None,
        who=filters,
        what=what or {},
    )


def amounts_as_decimals(body: Any) -> Any:
    """Money arrives as decimal strings; compare it as numbers, not spellings."""
    if isinstance(body, dict):
        return {
            k: Decimal(v) if k in {"total_xof", "funding_xof"} else amounts_as_decimals(v)
            for k, v in body.items()
        }
    if isinstance(body, list):
        return [amounts_as_decimals(item) for item in body]
    return body


def without_medians(body: dict[str, Any]) -> tuple[dict[str, Any], list[float | None]]:
    """KPIs minus the median hours (floating point: compared with a tolerance)."""
    body = json.loads(json.dumps(body))  # a copy: the caller's body stays whole
    medians = [g["median_hours_to_first_aid"].pop("hours") for g in [body, *body["by_centre"]]]
    return body, medians


def assert_as_oracle(name: str, body: dict[str, Any], oracle: Oracle, query: Query) -> None:
    """Report ``name`` as the oracle computes it for ``query``."""
    if name == "registrations":
        expected = oracle.registrations_report(query)
        assert {k: body[k] for k in ("total", "breakdowns")} == expected
    elif name == "registrations-monthly":
        assert body["rows"] == oracle.monthly_report(query)["rows"]
    elif name == "aid":
        expected = oracle.aid_report(query)
        assert amounts_as_decimals({k: body[k] for k in ("total", "breakdowns")}) == expected
    elif name == "activities":
        expected = oracle.activities_report(query)
        assert amounts_as_decimals({k: body[k] for k in ("total", "breakdowns")}) == expected
    else:
        kpis, medians = without_medians(body)
        expected_kpis, expected_medians = without_medians(oracle.kpis_report(query))
        assert {k: kpis[k] for k in expected_kpis} == expected_kpis
        assert medians == pytest.approx(expected_medians, abs=0.01)


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
