"""Every route of the four services, driven from their own OpenAPI documents: no 5xx, and
every answer as the document declares it.

Each service runs in-process with its lifespan (real Postgres, real Kafka; the consumers read
private copies of the topics). For every operation its document declares, requests are
generated from the declared path and query parameters and JSON body: values the schema
allows, and values it refuses. A client error is fine when the operation declares it; a 5xx
is a defect, and so is an answer whose status, media type or JSON body the operation does not
declare (every error is problem details, every success its declared schema): the test reports
the request that caused it. The generated requests are derandomised (the same
every run), so a failure reproduces. Routes of one returnee or one case are driven with ids
the test created itself: it never touches another test's (or a person's) records.
"""

from __future__ import annotations

import functools
import importlib
import json
import random
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, unquote

import httpx
import jsonschema
import jwt
import pytest
from aiokafka import AIOKafkaProducer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema

import retour_test_inprocess as inprocess
from retour_contracts import CATALOG, RETURNEE_REGISTERED_V1, build_envelope
from retour_contracts.examples import example_returnee_registered
from retour_intake.domain.commands import EXAMPLE
from retour_kit.auth import Role
from retour_test_infra import Infra, eventually

pytestmark = pytest.mark.integration

SERVICES = ("intake", "reintegration", "notifications", "reporting")
EXAMPLES_PER_OPERATION = 25
# Bodies are where most rules live: their operations get more, up to 400 each, out of a budget
# per service (generating bodies is what takes the time: a service with many writes, such as
# reintegration's case work, shares it), and never fewer than 120 each.
EXAMPLES_PER_BODY_OPERATION = 400
BODY_EXAMPLES_PER_SERVICE = 2400
FEWEST_PER_BODY_OPERATION = 120


def body_examples(document: dict[str, Any]) -> int:
    """Examples per operation with a body, in this service's document."""
    with_body = sum("requestBody" in op.spec for op in operations(document))
    share = BODY_EXAMPLES_PER_SERVICE // max(with_body, 1)
    return max(FEWEST_PER_BODY_OPERATION, min(EXAMPLES_PER_BODY_OPERATION, share))


# Every topic a service consumes (a topic left out would be read from the stack's own).
EVENTS = tuple(dict.fromkeys(spec.topic for spec in CATALOG))


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    spec: dict[str, Any]

    def __str__(self) -> str:
        return f"{self.method.upper()} {self.path}"


@dataclass(frozen=True)
class Request:
    method: str
    url: str
    params: dict[str, Any]
    body: Any

    def __str__(self) -> str:
        return f"{self.method.upper()} {self.url} params={self.params} body={self.body!r}"


def every_role_token(secret: str) -> str:
    """A token that passes every route's role check, so the fuzzer reaches the handlers."""
    now = datetime.now(UTC)
    claims = {
        "sub": "fuzzer",
        "roles": [role.value for role in Role],
        "iat": now,
        "exp": now + timedelta(hours=1),
    }
    return jwt.encode(claims, secret, algorithm="HS256")


@pytest.fixture(scope="module")
async def private_topics(infra: Infra) -> AsyncIterator[dict[str, str]]:
    async with inprocess.private_topics(infra, "fuzz", EVENTS, partitions=1) as topics:
        yield topics


def service_settings(service: str, infra: Infra, topics: dict[str, str]) -> Any:
    settings_cls = importlib.import_module(f"retour_{service}.settings").Settings
    values: dict[str, Any] = {
        "database_url": infra.dsn(service),
        "auth_jwt_secret": infra.jwt_secret,
        "master_key": infra.master_key,  # read by intake only
        "kafka_bootstrap_servers": infra.kafka_bootstrap,
        "log_level": "WARNING",
    }
    if "consumer_group" in settings_cls.model_fields:
        values["consumer_group"] = f"test-fuzz-{uuid.uuid4().hex[:8]}"
        values.update({f"{event.replace('.', '_')}_topic": t for event, t in topics.items()})
    return settings_cls(**values)


def operations(document: dict[str, Any]) -> Iterator[Operation]:
    for path, methods in document["paths"].items():
        for method, spec in methods.items():
            if method in {"get", "post", "put", "patch", "delete"}:
                yield Operation(method, path, spec)


def values_of(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """The values ``schema`` allows. Building the strategy (canonicalising the schema and
    resolving its $refs among all the components) is where generation spent its time, on every
    draw: each schema's is built once, from the same schema as before."""
    return _values_of(json.dumps(schema, sort_keys=True))


@functools.cache
def _values_of(schema: str) -> st.SearchStrategy[Any]:
    return from_schema(json.loads(schema))


def with_components(schema: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
    # The OpenAPI document's $refs point at #/components/schemas/...: keep them resolvable.
    return {**schema, "components": document.get("components", {})}


def resolved(schema: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = document["components"]["schemas"][name]
    return schema


def parameter_value(
    parameter: dict[str, Any], document: dict[str, Any], known_ids: list[str]
) -> Any:
    schema = with_components(parameter.get("schema", {}), document)
    values = values_of(schema)
    if parameter["in"] == "path":
        # Path parameters are strings on the wire: ids that exist (so the handler runs to the
        # end), well-formed ones that do not, and some that are not ids at all.
        existing = [st.sampled_from(known_ids)] if known_ids else []
        return st.one_of(*existing, values.map(str), st.text(min_size=1, max_size=20))
    return values


def near_examples(body: dict[str, Any], document: dict[str, Any]) -> st.SearchStrategy[Any]:
    """The documented example with one or two fields replaced (nested ones too) by anything
    the schema allows there: far more of these get past validation than bodies generated
    whole, so the handlers behind the validation are exercised."""
    schema = resolved(body, document)
    examples = schema.get("examples") or []
    if not examples or not schema.get("properties"):
        return st.nothing()

    def mutate(draw: st.DrawFn, value: dict[str, Any], schema: dict[str, Any]) -> None:
        properties = schema["properties"]
        name = draw(st.sampled_from(sorted(properties)))
        inner = resolved(_first_object(properties[name]), document)
        if isinstance(value.get(name), dict) and inner.get("properties") and draw(st.booleans()):
            value[name] = dict(value[name])
            mutate(draw, value[name], inner)
        else:
            value[name] = draw(values_of(with_components(properties[name], document)))

    @st.composite
    def mutated(draw: st.DrawFn) -> Any:
        example = dict(draw(st.sampled_from(examples)))
        for _ in range(draw(st.integers(1, 2))):
            mutate(draw, example, schema)
        return example

    return mutated()


def _first_object(schema: dict[str, Any]) -> dict[str, Any]:
    """The object alternative of an ``anyOf`` (an optional nested model), or the schema."""
    for alternative in schema.get("anyOf", []):
        if "$ref" in alternative or alternative.get("type") == "object":
            return dict(alternative)
    return schema


def requests(
    operation: Operation, document: dict[str, Any], known_ids: list[str]
) -> st.SearchStrategy[Request]:
    parameters = operation.spec.get("parameters", [])
    path_parameters = {p["name"]: p for p in parameters if p["in"] == "path"}
    query_parameters = {p["name"]: p for p in parameters if p["in"] == "query"}
    body_schema = (
        operation.spec.get("requestBody", {})
        .get("content", {})
        .get("application/json", {})
        .get("schema")
    )

    @st.composite
    def request(draw: st.DrawFn) -> Request:
        url = operation.path
        for name, parameter in path_parameters.items():
            value = draw(parameter_value(parameter, document, known_ids))
            url = url.replace("{" + name + "}", quote(str(value), safe="") or "x")
        params = {}
        for name, parameter in query_parameters.items():
            if draw(st.booleans()):
                value = draw(parameter_value(parameter, document, known_ids))
                if isinstance(value, str | int | float | bool):
                    params[name] = value
        body: Any = None
        if body_schema is not None:
            body = draw(
                st.one_of(
                    near_examples(body_schema, document),
                    near_examples(body_schema, document),
                    values_of(with_components(body_schema, document)),
                    values_of({"type": "object"}),  # whatever else a client sends
                )
            )
        return Request(operation.method, url, params, body)

    return request()


def examples_of(strategy: st.SearchStrategy[Request], count: int) -> list[Request]:
    found: list[Request] = []

    @settings(
        max_examples=count,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(example: Request) -> None:
        found.append(example)

    collect()
    return found


OWN_RECORDS = 5


async def own_records(
    service: str, client: httpx.AsyncClient, infra: Infra, topics: dict[str, str]
) -> list[str]:
    """Returnees (intake) or cases (reintegration) made for this test alone."""
    if service == "intake":
        ids = []
        for _ in range(OWN_RECORDS):
            answer = await client.post(
                "/returnees",
                json=unique_registration(),
                headers={"Idempotency-Key": uuid.uuid4().hex},
            )
            assert answer.status_code == 201, answer.text
            ids.append(answer.json()["returnee_id"])
        return ids
    if service == "reintegration":
        registered = [
            example_returnee_registered(returnee_id=uuid.uuid4()) for _ in range(OWN_RECORDS)
        ]
        producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap, acks="all")
        await producer.start()
        try:
            for event in registered:
                envelope = build_envelope(RETURNEE_REGISTERED_V1, event, source="/test/fuzz")
                await producer.send_and_wait(
                    topics["returnee.registered"],
                    envelope.value,
                    key=envelope.key,
                    headers=envelope.headers,
                )
        finally:
            await producer.stop()
        ids = [str(event.returnee_id) for event in registered]

        async def opened() -> list[int]:
            return [(await client.get(f"/cases/{i}")).status_code for i in ids]

        await eventually(
            opened, until=lambda codes: codes == [200] * len(ids), within=30, what="own cases"
        )
        return ids
    return []


def unique_registration() -> dict[str, Any]:
    letters = "ghjkmnpqrstvwxyz"
    personal = {
        **EXAMPLE["personal"],
        "given_name": "".join(random.choices(letters, k=10)).capitalize(),
        "family_name": "".join(random.choices(letters, k=10)).capitalize(),
        "phone": None,
    }
    return {**EXAMPLE, "personal": personal}


def disagreement(
    operation: Operation, document: dict[str, Any], request: Request, answer: httpx.Response
) -> str | None:
    """How ``answer`` differs from what the operation's document declares, or None: its
    status must be declared, its media type declared for that status, and a JSON body must
    match that media type's schema."""
    if not reaches(operation, request):
        return None  # a path value with a "/" in it: the router's 404, not this operation's
    status = str(answer.status_code)
    declared = operation.spec.get("responses", {}).get(status)
    if declared is None:
        return f"{status} is not declared ({answer.text[:160]})"
    content = declared.get("content", {})
    media_type = answer.headers.get("content-type", "").split(";")[0].strip()
    if not content:
        return f"{status} has a body, none declared" if answer.content else None
    if media_type not in content:
        return f"{status} is {media_type}, declared {sorted(content)}"
    if not media_type.endswith("json"):
        return None
    schema = with_components(content[media_type].get("schema", {}), document)
    error = jsonschema.exceptions.best_match(validator_of(schema).iter_errors(answer.json()))
    if error is None:
        return None
    where = "/".join(str(part) for part in error.absolute_path)
    return f"{status} {media_type} does not match its schema at /{where}: {error.message[:200]}"


def reaches(operation: Operation, request: Request) -> bool:
    """Whether the request's path is one of the operation's (a generated path value may hold
    a "/", which takes the request to another route or none)."""
    parts = re.split(r"(\{[^}]+\})", operation.path)
    pattern = "".join("[^/]+" if part.startswith("{") else re.escape(part) for part in parts)
    return re.fullmatch(pattern, unquote(request.url)) is not None


def validator_of(schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    return _validator_of(json.dumps(schema, sort_keys=True))


@functools.cache
def _validator_of(schema: str) -> jsonschema.Draft202012Validator:
    # OpenAPI 3.1's schemas are JSON Schema 2020-12.
    return jsonschema.Draft202012Validator(json.loads(schema))


@pytest.mark.parametrize("service", SERVICES)
async def test_generated_requests_get_no_5xx_and_the_answers_their_document_declares(
    infra: Infra, private_topics: dict[str, str], service: str
) -> None:
    build_app = importlib.import_module(f"retour_{service}.main").build_app
    app = build_app(service_settings(service, infra, private_topics))
    document = app.openapi()
    headers = {"Authorization": f"Bearer {every_role_token(infra.jwt_secret)}"}
    sent = 0
    failures: list[str] = []
    undeclared: dict[str, str] = {}
    known_ids: list[str] = []
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
            base_url=f"http://{service}",
            headers=headers,
        ) as client,
    ):
        # Ids that exist, so that routes of one case or one returnee run to their end.
        known_ids += await own_records(service, client, infra, private_topics)
        for operation in operations(document):
            generated = requests(operation, document, known_ids)
            has_body = "requestBody" in operation.spec
            count = body_examples(document) if has_body else EXAMPLES_PER_OPERATION
            for request in examples_of(generated, count):
                answer = await client.request(
                    request.method,
                    request.url,
                    params=request.params,
                    json=request.body,
                    # If-Match: the version a correction (PATCH) names, as a client read it.
                    headers={"Idempotency-Key": uuid.uuid4().hex, "If-Match": '"1"'},
                )
                sent += 1
                if answer.status_code >= 500:
                    failures.append(f"{answer.status_code} {answer.text[:200]} <- {request}")
                found = disagreement(operation, document, request, answer)
                if found is not None:
                    # One request per operation and kind of disagreement is enough to fix it.
                    undeclared.setdefault(f"{operation}: {found}", str(request))

    assert sent >= EXAMPLES_PER_OPERATION, f"{service}: its document declares no operation"
    assert not failures, f"{service}: {len(failures)} of {sent} requests answered 5xx:\n" + (
        "\n".join(failures)
    )
    assert not undeclared, f"{service}: answers its document does not declare:\n" + "\n".join(
        f"{found}\n    <- {request}" for found, request in undeclared.items()
    )


async def test_every_post_and_patch_of_every_service_needs_an_idempotency_key(
    infra: Infra, private_topics: dict[str, str]
) -> None:
    headers = {"Authorization": f"Bearer {every_role_token(infra.jwt_secret)}", "If-Match": '"1"'}
    refused: dict[str, int] = {}
    for service in SERVICES:
        build_app = importlib.import_module(f"retour_{service}.main").build_app
        app = build_app(service_settings(service, infra, private_topics))
        writes = [op for op in operations(app.openapi()) if op.method in {"post", "put", "patch"}]
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url=f"http://{service}"
            ) as client,
        ):
            for op in writes:
                # Any id will do: the key is asked for before anything is looked up.
                url = re.sub(r"\{[^}]+\}", str(uuid.uuid4()), op.path)
                answer = await client.request(op.method, url, json={}, headers=headers)
                assert answer.status_code == 428, f"{service} {op}: {answer.text}"
                assert answer.json()["field"] == "header.Idempotency-Key", f"{service} {op}"
                refused[f"{service} {op}"] = answer.status_code
    # Notifications and reporting have no write route today; the others must all be here.
    assert {name.split()[0] for name in refused} == {"intake", "reintegration"}, refused
