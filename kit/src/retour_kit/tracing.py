"""W3C trace context from HTTP requests into the events they cause.

A caller that sends `traceparent` has its trace continued through the outbox, Kafka and every
consumer's logs; a request without one (or with a malformed one) starts a new trace. With
tracing on (retour_kit.telemetry), the events carry the request's span instead, which already
continues the caller's trace.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Header

from retour_contracts import is_valid_traceparent, new_traceparent
from retour_kit.telemetry import current_traceparent

TraceParentHeader = Annotated[str | None, Header(alias="traceparent", max_length=55)]


def continued_trace(header: str | None) -> str:
    recorded = current_traceparent()
    if recorded is not None:
        return recorded
    return header if header and is_valid_traceparent(header) else new_traceparent()


def trace_id(traceparent: str) -> str:
    return traceparent.split("-")[1]
