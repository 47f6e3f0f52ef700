"""OpenTelemetry traces: where a registration spends its time, across every process it crosses.

Spans are made for HTTP requests (``TracingMiddleware``), database statements
(``TracedConnection``), the outbox relay's publishing (``publishing_spans``) and the consumers'
transactions (``consuming_spans``), and exported over OTLP/HTTP when
``OTEL_EXPORTER_OTLP_ENDPOINT`` is set; without it nothing is recorded and the hooks cost a
context lookup.

One trace per registration: the HTTP span continues the caller's ``traceparent``, the events
written in that request carry the HTTP span's context (``continued_trace``), the relay's span
for a record is a child of that context and rewrites the record's ``traceparent`` header to its
own, and each consumer's span for an event is a child of the header it read.

Personal data never reaches a span: HTTP spans name the route template, never the path or the
query (searches carry names); database spans carry the parameterised SQL, never its arguments;
Kafka spans carry topic, partition, offset and event id, never keys or values; a failure is
recorded by its type only, never by its message, which for a database error can quote the row
(``Key (phone)=(...)``) and for others the input; the logs keep the safe description
(``safe_errors.describe_error``), under the same trace id.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncpg
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    Span,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from retour_contracts import is_valid_traceparent

T = TypeVar("T")
_INSTRUMENTATION = "retour_kit"
_UNMATCHED_ROUTE = "unmatched"
_NO_PARENT = otel_context.Context()
"""Starts a trace of its own, whatever span is current."""
_UNTRACED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
"""Probes and scrapes: every few seconds from Kubernetes and Prometheus, about no one's case;
traced, they would fill the trace store and cost each service a span export per call."""


@dataclass
class _State:
    provider: TracerProvider | None = None
    service: str = ""


_state = _State()


def configure_tracing(
    service_name: str,
    *,
    endpoint: str | None,
    version: str = "",
    processor: SpanProcessor | None = None,
) -> None:
    """Exports this process's spans to ``endpoint`` (OTLP/HTTP, e.g. ``http://127.0.0.1:4318``)
    or hands them to ``processor`` (tests); with neither, records nothing.

    One provider per process, kept here rather than as OpenTelemetry's global (which can be
    set only once): a test process builds several services' apps in turn."""
    shutdown_tracing()
    if processor is None:
        if endpoint is None:
            return
        processor = _exporting_to(endpoint)
    resource = Resource.create({"service.name": service_name, "service.version": version})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(processor)
    _state.provider = provider
    _state.service = service_name


def _exporting_to(endpoint: str) -> SpanProcessor:
    # Imported here: the exporter pulls in requests and protobuf, which a service with tracing
    # off never needs. Batched: spans leave from a thread, never on the request's path.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{endpoint.rstrip('/')}/v1/traces"))


def shutdown_tracing() -> None:
    """Exports what is buffered (a few seconds at most) and stops recording."""
    provider, _state.provider = _state.provider, None
    if provider is not None:
        provider.shutdown()


def tracing_enabled() -> bool:
    return _state.provider is not None


def _tracer() -> trace.Tracer:
    provider = _state.provider
    return (provider or trace.NoOpTracerProvider()).get_tracer(_INSTRUMENTATION)


# -- trace context as text ------------------------------------------------------------------


def traceparent_of(span_context: SpanContext) -> str:
    return (
        f"00-{span_context.trace_id:032x}-{span_context.span_id:016x}"
        f"-{int(span_context.trace_flags):02x}"
    )


def context_of(traceparent: str | None) -> otel_context.Context | None:
    """The context whose parent is ``traceparent``; None when it is missing or malformed."""
    if not traceparent or not is_valid_traceparent(traceparent):
        return None
    _, trace_id, span_id, flags = traceparent.split("-")
    parent = SpanContext(
        trace_id=int(trace_id, 16),
        span_id=int(span_id, 16),
        is_remote=True,
        trace_flags=TraceFlags(int(flags, 16)),
    )
    return trace.set_span_in_context(NonRecordingSpan(parent))


def current_traceparent() -> str | None:
    """The active span's traceparent, when a span is being recorded."""
    span = trace.get_current_span()
    if not span.is_recording():
        return None
    return traceparent_of(span.get_span_context())


# -- spans ----------------------------------------------------------------------------------


@contextlib.contextmanager
def _span(
    name: str,
    *,
    kind: SpanKind,
    parent: otel_context.Context | None = None,
    links: Sequence[Link] = (),
    attributes: dict[str, Any] | None = None,
) -> Iterator[Span]:
    """A span made current while the block runs; a failure is recorded by its type only."""
    span = _tracer().start_span(name, context=parent, kind=kind, links=links, attributes=attributes)
    try:
        with trace.use_span(
            span, end_on_exit=False, record_exception=False, set_status_on_exception=False
        ):
            yield span
    except BaseException as error:
        span.set_status(Status(StatusCode.ERROR, type(error).__name__))
        raise
    finally:
        span.end()


class TracingMiddleware:
    """One server span per HTTP request, continuing the caller's ``traceparent``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not tracing_enabled() or scope["path"] in _UNTRACED_PATHS:
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        status = 500  # what the client sees if the app dies before answering

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        header = dict(scope["headers"]).get(b"traceparent", b"").decode("latin-1")
        attributes = {"http.request.method": method, "url.scheme": scope.get("scheme", "http")}
        parent = context_of(header) or _NO_PARENT
        with _span(method, kind=SpanKind.SERVER, parent=parent, attributes=attributes) as span:
            try:
                await self.app(scope, receive, recording_send)
            finally:
                # The router stores the matched route in the scope while dispatching: the
                # template, never the path (ids) nor the query (searches by name).
                route = getattr(scope.get("route"), "path", None) or _UNMATCHED_ROUTE
                span.update_name(f"{method} {route}")
                span.set_attribute("http.route", route)
                span.set_attribute("http.response.status_code", status)
                if status >= 500:
                    span.set_status(Status(StatusCode.ERROR))


# -- database -------------------------------------------------------------------------------


def _statement_span(query: str) -> AbstractContextManager[Any]:
    # Only inside a traced unit of work: the relay's polling and the retention worker's
    # passes would otherwise each make a trace of their own, every few seconds.
    if not trace.get_current_span().is_recording():
        return contextlib.nullcontext()
    operation = query.lstrip().split(None, 1)[0].upper() if query.strip() else "SQL"
    return _span(
        operation,
        kind=SpanKind.CLIENT,
        attributes={
            "db.system.name": "postgresql",
            "db.operation.name": operation,
            # Parameterised SQL: the values travel as arguments, which are never recorded.
            "db.query.text": query,
        },
    )


class TracedConnection(asyncpg.Connection):
    """An asyncpg connection whose statements are spans of the unit of work they serve.

    The overridden methods keep asyncpg's signatures, ``timeout`` arguments included (hence
    the ASYNC109 exceptions); the pool's proxies and transactions call these same methods."""

    async def execute(
        self,
        query: str,
        *args: Any,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> str:
        with _statement_span(query):
            return await super().execute(query, *args, timeout=timeout)

    async def executemany(
        self,
        command: str,
        args: Any,
        *,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> None:
        with _statement_span(command):
            await super().executemany(command, args, timeout=timeout)

    async def fetch(self, query: str, *args: Any, **kwargs: Any) -> list[Any]:
        with _statement_span(query):
            rows: list[Any] = await super().fetch(query, *args, **kwargs)
            return rows

    async def fetchrow(self, query: str, *args: Any, **kwargs: Any) -> Any:
        with _statement_span(query):
            return await super().fetchrow(query, *args, **kwargs)

    async def fetchval(self, query: str, *args: Any, **kwargs: Any) -> Any:
        with _statement_span(query):
            return await super().fetchval(query, *args, **kwargs)


def connection_class() -> type[asyncpg.Connection]:
    """asyncpg's own class when tracing is off: no overhead on the statements."""
    return TracedConnection if tracing_enabled() else asyncpg.Connection


# -- Kafka ----------------------------------------------------------------------------------


def _batch_span(
    name: str, kind: SpanKind, links: Sequence[Link], size: int
) -> AbstractContextManager[Span]:
    """A batch's own span: a trace of its own, linked to the traces of the records it holds."""
    attributes = {"messaging.system": "kafka", "messaging.batch.message_count": size}
    return _span(name, kind=kind, parent=_NO_PARENT, links=links, attributes=attributes)


def _record_attributes(topic: str, event_id: str) -> dict[str, Any]:
    return {
        "messaging.system": "kafka",
        "messaging.destination.name": topic,
        "messaging.message.id": event_id,
    }


@dataclass(frozen=True)
class OutgoingRecord:
    topic: str
    event_id: str
    traceparent: str | None


@contextlib.contextmanager
def publishing_spans(
    batch: Sequence[T], describe: Callable[[T], OutgoingRecord]
) -> Iterator[list[str | None]]:
    """The relay's spans for one batch: the batch's own (linked to every record's trace) and,
    in each record's trace, a producer span whose traceparent the record is sent with, so that
    the consumers' spans hang under it. Yields those traceparents (None: keep the header).
    ``describe`` is called only when tracing is on: nothing per record otherwise."""
    if not tracing_enabled():
        yield [None] * len(batch)
        return
    records = [describe(item) for item in batch]
    parents = [context_of(r.traceparent) for r in records]
    links = [
        Link(trace.get_current_span(parent).get_span_context())
        for parent in parents
        if parent is not None
    ]
    with (
        _batch_span("outbox publish", SpanKind.PRODUCER, links, len(records)),
        contextlib.ExitStack() as spans,
    ):
        traceparents: list[str | None] = []
        for record, parent in zip(records, parents, strict=True):
            span = spans.enter_context(
                _span(
                    f"publish {record.topic}",
                    kind=SpanKind.PRODUCER,
                    parent=parent,
                    attributes=_record_attributes(record.topic, record.event_id),
                )
            )
            traceparents.append(traceparent_of(span.get_span_context()))
        yield traceparents


@dataclass(frozen=True)
class IncomingRecord:
    topic: str
    event_id: str
    traceparent: str
    partition: int
    offset: int


@contextlib.contextmanager
def consuming_spans(batch: Sequence[T], describe: Callable[[T], IncomingRecord]) -> Iterator[None]:
    """A consumer transaction's spans: one per event, in that event's trace, around the whole
    transaction (the batch commits or rolls back as one); its statements go under the event's
    span when it is alone, under a batch span linked to every event's otherwise. ``describe``
    is called only when tracing is on: nothing per event otherwise."""
    if not tracing_enabled() or not batch:
        yield
        return
    records = [describe(item) for item in batch]
    with contextlib.ExitStack() as spans:
        event_spans = [
            spans.enter_context(
                _span(
                    f"process {r.topic}",
                    kind=SpanKind.CONSUMER,
                    parent=context_of(r.traceparent),
                    attributes={
                        **_record_attributes(r.topic, r.event_id),
                        "messaging.destination.partition.id": str(r.partition),
                        "messaging.kafka.offset": r.offset,
                    },
                )
            )
            for r in records
        ]
        if len(event_spans) > 1:
            links = [Link(s.get_span_context()) for s in event_spans]
            # Made current last: the handler's statements go under the batch's span.
            batch_span = _batch_span("process batch", SpanKind.CONSUMER, links, len(records))
            spans.enter_context(batch_span)
        yield
