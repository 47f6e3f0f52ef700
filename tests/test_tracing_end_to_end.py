"""Issue 18, acceptance: one registration is one trace in Jaeger, with spans from intake (its
request and its statements), the relay, reintegration, notifications and reporting; read back
through Jaeger's own HTTP API from the running stack (make up), and free of the person's data."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from test_end_to_end import running_services
from test_erasure_end_to_end import token
from test_notifications_gateways import new_phone
from test_registration_lifecycle import person

from retour_contracts import new_traceparent
from retour_test_infra import FRESH_IDEMPOTENCY_KEYS, Infra, eventually

pytestmark = pytest.mark.integration

SERVICES = ("retour-intake", "retour-reintegration", "retour-notifications", "retour-reporting")
CONSUMERS = SERVICES[1:]


def spans_of(trace: dict[str, Any]) -> list[dict[str, Any]]:
    """Each span with its service's name and its parent's span id (None for the root)."""
    services = {pid: process["serviceName"] for pid, process in trace["processes"].items()}
    return [
        {
            "service": services[span["processID"]],
            "name": span["operationName"],
            "span_id": span["spanID"],
            "parent": next(
                (r["spanID"] for r in span.get("references", []) if r["refType"] == "CHILD_OF"),
                None,
            ),
        }
        for span in trace["spans"]
    ]


def complete(spans: list[dict[str, Any]]) -> bool:
    seen = {(s["service"], s["name"]) for s in spans}
    return ("retour-intake", "publish returnee.registered") in seen and all(
        (service, "process returnee.registered") in seen for service in CONSUMERS
    )


async def test_one_registration_is_one_trace_across_the_services(infra: Infra) -> None:
    if infra.jaeger_query_url is None:
        pytest.fail("JAEGER_QUERY_URL is not set: run `make up` without RETOUR_TRACING=off")
    caller = new_traceparent()
    _, trace_id, caller_span_id, _ = caller.split("-")
    body = person(centre="kayes", phone=new_phone(), language="fr")
    async with httpx.AsyncClient(timeout=10, event_hooks=FRESH_IDEMPOTENCY_KEYS) as http:
        created = await http.post(
            f"{running_services().intake}/returnees",
            json=body,
            headers={**token(infra, "registrar"), "traceparent": caller},
        )
        assert created.status_code == 201, created.text
        trace_url = f"{infra.jaeger_query_url}/api/traces/{trace_id}"

        async def trace() -> dict[str, Any] | None:
            answer = await http.get(trace_url)
            if answer.status_code == 404:
                return None
            answer.raise_for_status()
            found: dict[str, Any] = answer.json()["data"][0]
            return found

        async def spans() -> list[dict[str, Any]]:
            found = await trace()
            return spans_of(found) if found else []

        # Spans leave each service in batches every few seconds.
        all_spans = await eventually(
            spans, until=complete, within=60, every=1, what="spans from every service"
        )
        whole = await trace()

    assert {s["service"] for s in all_spans} >= set(SERVICES)
    (request,) = [s for s in all_spans if s["name"] == "POST /returnees"]
    assert request["service"] == "retour-intake"
    assert request["parent"] == caller_span_id  # the caller's trace, continued
    assert any(s["name"] == "INSERT" and s["parent"] == request["span_id"] for s in all_spans)
    (published,) = [s for s in all_spans if s["name"] == "publish returnee.registered"]
    for service in CONSUMERS:
        processing = [
            s
            for s in all_spans
            if (s["service"], s["name"]) == (service, "process returnee.registered")
        ]
        # Under the relay's span: the record was sent with its traceparent. More than one
        # span only if the event was redelivered; each is in this trace all the same.
        assert processing and all(s["parent"] == published["span_id"] for s in processing)
    # The outbox row was written under the request's span: the relay's span hangs under it.
    assert published["parent"] == request["span_id"]

    recorded = json.dumps(whole)
    for value in (body["personal"]["given_name"], body["personal"]["family_name"]):
        assert value not in recorded
    assert body["personal"]["phone"].removeprefix("+") not in recorded
