"""Shared pieces of the benchmarks: private topics, fast event generation, timing."""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from retour_contracts import RETURNEE_REGISTERED_V1, build_envelope
from retour_contracts.examples import RETURNEE_ID, example_returnee_registered
from retour_kit.kafka_security import adopt_principal, kafka_options
from retour_kit.migrations import migrate


@dataclass(frozen=True)
class Stack:
    kafka: str
    admin_dsn: str
    dsns: dict[str, str]
    jwt_secret: str
    tracing: bool
    """Whether the services export a span for every request, statement and event (make up
    does unless RETOUR_TRACING=off): a cost the figures include (docs/performance.md)."""


def load_stack(env_file: str = ".local/env") -> Stack:
    values: dict[str, str] = {}
    with open(env_file) as lines:
        for line in lines:
            name, sep, value = line.strip().partition("=")
            if sep and not name.startswith("#"):
                values[name] = value
    # The benchmark's own clients (producers of the load, probes, in-process consumers) act
    # as the operator on a broker that requires credentials.
    adopt_principal(values, "operator")
    return Stack(
        kafka=values["KAFKA_BOOTSTRAP_SERVERS"],
        admin_dsn=values["RETOUR_PG_ADMIN_DSN"],
        dsns={
            svc: values[f"{svc.upper()}_DATABASE_URL"]
            for svc in ("intake", "reintegration", "notifications", "reporting")
        },
        jwt_secret=values["AUTH_JWT_SECRET"],
        tracing=bool(values.get("OTEL_EXPORTER_OTLP_ENDPOINT")),
    )


def registration_records(count: int) -> Iterator[tuple[bytes, bytes, list[tuple[str, bytes]]]]:
    """`count` distinct, valid returnee.registered records (key, value, headers).

    One envelope is built through the real contract code, then copied with new ids by byte
    substitution: generating a million events must not dominate a replay benchmark.
    """
    template = build_envelope(
        RETURNEE_REGISTERED_V1, example_returnee_registered(), source="/bench"
    )
    old_id = str(RETURNEE_ID).encode()
    old_event_id = dict(template.headers)["ce_id"]
    for _ in range(count):
        new_id = str(uuid.uuid4()).encode()
        event_id = str(uuid.uuid4()).encode()
        headers = [
            (name, event_id if value == old_event_id else value.replace(old_id, new_id))
            for name, value in template.headers
        ]
        yield new_id, template.value.replace(old_id, new_id), headers


async def produce(
    kafka: str, topic: str, records: Iterator[tuple[bytes, bytes, list[tuple[str, bytes]]]]
) -> int:
    producer = AIOKafkaProducer(
        **kafka_options(kafka),
        acks="all",
        enable_idempotence=True,
        linger_ms=20,
        max_batch_size=512 * 1024,
    )
    await producer.start()
    sent = 0
    try:
        pending = []
        for key, value, headers in records:
            pending.append(await producer.send(topic, value, key=key, headers=headers))
            sent += 1
            if len(pending) >= 5000:
                for future in pending:
                    await future
                pending.clear()
        for future in pending:
            await future
    finally:
        await producer.stop()
    return sent


@asynccontextmanager
async def private_topic(kafka: str, name: str, partitions: int = 6) -> AsyncIterator[str]:
    topic = f"bench.{name}.{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(**kafka_options(kafka))
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, partitions, 1)])
        yield topic
    finally:
        await admin.delete_topics([topic])
        await admin.close()


@asynccontextmanager
async def scratch_schema(admin_dsn: str, ddl: str) -> AsyncIterator[str]:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f"CREATE SCHEMA {schema}; SET search_path = {schema}; {ddl}")
        yield schema
    finally:
        await conn.execute(f"DROP SCHEMA {schema} CASCADE")
        await conn.close()


@asynccontextmanager
async def scratch_copy(stack: Stack, service: str, package: str) -> AsyncIterator[str]:
    """A throwaway schema owned by `service`'s role, migrated like the service's own."""
    schema = f"bench_{service}_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(stack.admin_dsn)
    try:
        await admin.execute(f"CREATE SCHEMA {schema} AUTHORIZATION {service}")
        await migrate(stack.dsns[service], schema=schema, package=package)
        yield schema
    finally:
        await admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await admin.close()


def percentile(samples: list[float], q: float) -> float:
    if not samples:
        return float("nan")
    return (
        statistics.quantiles(samples, n=100, method="inclusive")[int(q) - 1]
        if len(samples) > 1
        else samples[0]
    )


class Timer:
    def __enter__(self) -> Timer:
        self.started = time.perf_counter()
        return self

    def __exit__(self, *_: object) -> None:
        self.seconds = time.perf_counter() - self.started
