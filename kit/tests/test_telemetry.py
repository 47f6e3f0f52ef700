"""Spans from the kit's hooks, read back from an in-memory exporter: one trace follows a request
into its events, the relay and the consumers, and no span carries personal data."""

from __future__ import annotations

from collections.abc import Iterator

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from retour_contracts import new_traceparent
from retour_kit.db import create_pool
from retour_kit.kafka_publisher import _traced
from retour_kit.outbox import OutboxRecord
from retour_kit.telemetry import (
    IncomingRecord,
    OutgoingRecord,
    TracingMiddleware,
    configure_tracing,
    connection_class,
    consuming_spans,
    current_traceparent,
    publishing_spans,
    shutdown_tracing,
)
from retour_kit.tracing import continued_trace

NAME = "Aminata Traoré"
"""A personal value: it must appear in no span."""


@pytest.fixture
def exported() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    configure_tracing("retour-test", endpoint=None, processor=SimpleSpanProcessor(exporter))
    try:
        yield exporter
    finally:
        shutdown_tracing()


def ids(traceparent: str) -> tuple[int, int]:
    _, trace_id, span_id, _ = traceparent.split("-")
    return int(trace_id, 16), int(span_id, 16)


def everything_recorded(span: ReadableSpan) -> str:
    return repr(
        (span.name, dict(span.attributes or {}), span.status.description, span.events, span.links)
    )


def traced_app() -> FastAPI:
    app = FastAPI()

    @app.get("/returnees/{returnee_id}")
    async def read(returnee_id: str, name: str = "") -> dict[str, str]:
        return {"traceparent": continued_trace(None)}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/fails")
    async def fails() -> None:
        raise RuntimeError(f"duplicate key: Key (full_name)=({NAME}) already exists")

    app.add_middleware(TracingMiddleware)
    return app


async def get(path: str, headers: dict[str, str] | None = None) -> httpx.Response:
    transport = httpx.ASGITransport(app=traced_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get(path, headers=headers)


async def test_a_request_span_continues_the_callers_trace_and_its_events_carry_it(
    exported: InMemorySpanExporter,
) -> None:
    caller = new_traceparent()
    response = await get("/returnees/r-1", {"traceparent": caller})

    (span,) = exported.get_finished_spans()
    assert span.kind is SpanKind.SERVER
    assert span.name == "GET /returnees/{returnee_id}"
    assert span.attributes is not None
    assert span.attributes["http.route"] == "/returnees/{returnee_id}"
    assert span.attributes["http.response.status_code"] == 200
    assert span.parent is not None
    assert (span.context.trace_id, span.parent.span_id) == ids(caller)
    # What the request's events would carry: its own span, in the caller's trace.
    assert ids(response.json()["traceparent"]) == (span.context.trace_id, span.context.span_id)


async def test_a_request_without_traceparent_starts_a_trace(
    exported: InMemorySpanExporter,
) -> None:
    await get("/returnees/r-1", {"traceparent": "not-a-traceparent"})
    (span,) = exported.get_finished_spans()
    assert span.parent is None


async def test_probes_and_scrapes_are_not_traced(exported: InMemorySpanExporter) -> None:
    answered = await get("/healthz", {"traceparent": new_traceparent()})
    await get("/returnees/r-1")

    assert answered.status_code == 200
    assert [span.name for span in exported.get_finished_spans()] == ["GET /returnees/{returnee_id}"]


async def test_request_spans_keep_no_path_value_query_or_error_message(
    exported: InMemorySpanExporter,
) -> None:
    await get(f"/returnees/{NAME}?name={NAME}")
    response = await get("/fails")

    assert response.status_code == 500
    ok, failed = exported.get_finished_spans()
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.status.description == "RuntimeError"
    for span in (ok, failed):
        assert "Aminata" not in everything_recorded(span)
        assert "Traor" not in everything_recorded(span)


def test_no_span_is_current_outside_a_unit_of_work(exported: InMemorySpanExporter) -> None:
    assert current_traceparent() is None
    first = continued_trace(None)
    assert continued_trace(first) == first  # the caller's trace, as before tracing


def test_the_relay_publishes_each_record_under_a_span_of_its_trace(
    exported: InMemorySpanExporter,
) -> None:
    stored = [new_traceparent(), new_traceparent()]
    records = [
        OutgoingRecord(topic="returnee.registered", event_id=f"e-{i}", traceparent=t)
        for i, t in enumerate(stored)
    ]
    with publishing_spans(records, lambda record: record) as sent_with:
        pass

    spans = {s.name: s for s in exported.get_finished_spans()}
    assert len(exported.get_finished_spans()) == 3
    batch = spans["outbox publish"]
    assert batch.parent is None
    assert {link.context.trace_id for link in batch.links} == {ids(t)[0] for t in stored}
    for stored_with, sent in zip(stored, sent_with, strict=True):
        assert sent is not None
        trace_id, producer_span_id = ids(sent)
        (producer,) = [
            s
            for s in exported.get_finished_spans()
            if s.context.span_id == producer_span_id and s.name == "publish returnee.registered"
        ]
        assert producer.kind is SpanKind.PRODUCER
        assert producer.parent is not None
        assert (trace_id, producer.parent.span_id) == ids(stored_with)


def test_records_are_sent_with_their_producer_span_as_traceparent() -> None:
    stored, sent = new_traceparent(), new_traceparent()
    record = OutboxRecord(
        id=1,
        event_id="e-1",
        topic="returnee.registered",
        key=b"r-1",
        value=b"{}",
        headers=[("ce_id", b"e-1"), ("traceparent", stored.encode()), ("ce_type", b"x")],
    )
    rewritten, kept = _traced([record, record], [sent, None])
    assert rewritten.headers == [
        ("ce_id", b"e-1"),
        ("traceparent", sent.encode()),
        ("ce_type", b"x"),
    ]
    assert kept == record


def incoming(traceparent: str, offset: int) -> IncomingRecord:
    return IncomingRecord(
        topic="returnee.registered",
        event_id=f"e-{offset}",
        traceparent=traceparent,
        partition=0,
        offset=offset,
    )


def same(record: IncomingRecord) -> IncomingRecord:
    return record


def test_a_consumed_event_is_processed_in_its_own_trace(
    exported: InMemorySpanExporter,
) -> None:
    header = new_traceparent()
    with consuming_spans([incoming(header, 7)], same):
        inside = current_traceparent()

    (span,) = exported.get_finished_spans()
    assert span.kind is SpanKind.CONSUMER
    assert span.name == "process returnee.registered"
    assert span.parent is not None
    assert (span.context.trace_id, span.parent.span_id) == ids(header)
    assert inside is not None and ids(inside) == (span.context.trace_id, span.context.span_id)


def test_a_batch_gives_each_event_a_span_in_its_trace_and_works_under_a_linked_one(
    exported: InMemorySpanExporter,
) -> None:
    headers = [new_traceparent(), new_traceparent()]
    seen: list[str | None] = []

    def handle() -> None:
        with consuming_spans([incoming(h, i) for i, h in enumerate(headers)], same):
            seen.append(current_traceparent())
            raise ValueError(f"handler failed on {NAME}")

    with pytest.raises(ValueError, match="handler"):
        handle()
    (inside,) = seen

    spans = exported.get_finished_spans()
    batch = next(s for s in spans if s.name == "process batch")
    events = [s for s in spans if s.name == "process returnee.registered"]
    assert inside is not None and ids(inside)[1] == batch.context.span_id
    assert batch.parent is None
    assert {link.context.span_id for link in batch.links} == {s.context.span_id for s in events}
    assert sorted(s.context.trace_id for s in events) == sorted(ids(h)[0] for h in headers)
    for span in spans:
        assert span.status.status_code is StatusCode.ERROR
        assert "Aminata" not in everything_recorded(span)


@pytest.mark.integration
async def test_statements_are_spans_of_the_unit_of_work_without_their_arguments(
    exported: InMemorySpanExporter, admin_dsn: str
) -> None:
    pool = await create_pool(admin_dsn)
    try:
        await pool.fetchval("SELECT 1")  # no unit of work around it: no span
        assert exported.get_finished_spans() == ()
        with consuming_spans([incoming(new_traceparent(), 1)], same):
            async with pool.acquire() as conn:
                await conn.execute("CREATE TEMP TABLE people (name text PRIMARY KEY)")
                await conn.execute("INSERT INTO people VALUES ($1)", NAME)
                with pytest.raises(asyncpg.UniqueViolationError):
                    # The server's message quotes the row: "Key (name)=(Aminata ...)".
                    await conn.execute("INSERT INTO people VALUES ($1)", NAME)
                assert await conn.fetchval("SELECT count(*) FROM people") == 1
    finally:
        await pool.close()

    spans = exported.get_finished_spans()
    process = next(s for s in spans if s.name == "process returnee.registered")
    statements = [s for s in spans if s is not process]
    assert [s.name for s in statements] == ["CREATE", "INSERT", "INSERT", "SELECT"]
    for statement in statements:
        assert statement.parent is not None
        assert statement.parent.span_id == process.context.span_id
        assert statement.attributes is not None
        assert statement.attributes["db.system.name"] == "postgresql"
        assert "Aminata" not in everything_recorded(statement)
    assert statements[1].attributes is not None
    assert statements[1].attributes["db.query.text"] == "INSERT INTO people VALUES ($1)"
    assert statements[2].status.description == "UniqueViolationError"


def test_with_tracing_off_nothing_is_described_or_recorded() -> None:
    shutdown_tracing()

    def never(item: int) -> OutgoingRecord:
        raise AssertionError(f"described record {item} with tracing off")

    def never_incoming(item: int) -> IncomingRecord:
        raise AssertionError(f"described event {item} with tracing off")

    with publishing_spans([1, 2], never) as sent_with:
        assert sent_with == [None, None]  # every header kept as stored
    with consuming_spans([1], never_incoming):
        assert current_traceparent() is None
    assert connection_class() is asyncpg.Connection  # statements go straight to asyncpg
