"""A service's OpenAPI document, completed with what FastAPI leaves out: the error responses
as the services really answer them, the tags its operations use, and its server.

FastAPI declares one error per operation, a 422 of its own shape, which is not what the kit
sends. Every operation of a service's document is rewritten here to declare each status it
can really answer, as ``application/problem+json``:

- what the kit answers for any operation with a given trait: a bearer token (401, 403, and
  503 when the identity provider's keys cannot be fetched), a body (400 malformed JSON, 413,
  415, 422), parameters (422), a write (428 without an Idempotency-Key, 409 when the key was
  used for another request), and a database behind every operation (503: unavailable, or
  stopped at its time limit);
- what the route declares itself (``responses={404: ...}``), whose description is kept and
  whose model, when it has one, must be a ``Problem``.

``tests/test_api_fuzz.py`` holds every error the generated requests provoke to the
operation's declared responses, so a status or a shape declared here that the service does
not send, or the reverse, fails the tests.
"""

import json
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel, PydanticUserError, TypeAdapter
from starlette.routing import BaseRoute

from retour_kit.problems import MEDIA_TYPE, Problem, ValidationProblem

_FASTAPI_VALIDATION = "#/components/schemas/HTTPValidationError"
_PROBLEM = "#/components/schemas/Problem"
_VALIDATION_PROBLEM = "#/components/schemas/ValidationProblem"
_WRITES = frozenset({"post", "put", "patch"})

_BY_TRAIT = {
    "token": {
        401: "No bearer token, or one that is expired, not yet valid or not ours (`unauthorized`).",
        403: "The token's roles, or its reception centres, do not allow this (`forbidden`,"
        " `outside_your_centres`).",
    },
    "body": {
        400: "The body is not valid JSON (`malformed_json`).",
        413: "The body is larger than this operation takes (`payload_too_large`).",
        415: "The body is not of a media type this operation takes (`unsupported_media_type`).",
        422: "Fields are missing or wrong: `errors` names each (`validation_error`).",
    },
    "parameters": {
        422: "Parameters are missing or wrong: `errors` names each (`validation_error`), or a"
        " page cursor is not one this service gave (`invalid_cursor`).",
    },
    "write": {
        409: "The Idempotency-Key was used for a different request (`idempotency_key_reused`).",
        428: "No Idempotency-Key header (`idempotency_key_required`).",
    },
    "any": {
        503: "The database (or the identity provider's keys) is unavailable"
        " (`dependency_unavailable`), or the request was stopped at its time limit"
        " (`time_limit_reached`): try again after Retry-After seconds.",
    },
}


def complete_document(app: FastAPI) -> None:
    """Makes ``app.openapi()`` return the completed document (built once, as FastAPI's)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                openapi_version=app.openapi_version,
                description=app.description,
                routes=app.routes,
            )
            with_examples_as_written(document, app.routes)
            app.openapi_schema = with_server(with_tags(with_problems(document)))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def with_problems(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` with every operation's errors declared as problem details."""
    components = document.setdefault("components", {}).setdefault("schemas", {})
    components.update(_schemas_of(Problem, ValidationProblem))
    for method, operation in _operations(document):
        responses = operation.setdefault("responses", {})
        for status, description in _implied(method, operation).items():
            declared = responses.setdefault(str(status), {})
            own = declared.get("description")
            if own in (None, "Validation Error"):  # none, or FastAPI's own 422
                declared["description"] = description
            elif description not in own:
                declared["description"] = f"{own} {description}"
        for status, response in responses.items():
            if status[0] in "45":
                response["content"] = {MEDIA_TYPE: {"schema": _schema(status, response)}}
        operation["responses"] = dict(sorted(responses.items()))
    _drop_unused(document, ("HTTPValidationError", "ValidationError"))
    return document


def with_examples_as_written(document: dict[str, Any], routes: Sequence[BaseRoute]) -> None:
    """Puts back the ``null`` members FastAPI drops from the models' examples.

    FastAPI writes the document with ``exclude_none``, which also removes every ``null`` inside
    an example: an example of a case not yet closed loses ``closed_at`` and no longer matches
    its own schema. The examples are read again from the models the routes name."""
    schemas = document.get("components", {}).get("schemas", {})
    for name, examples in _examples_of(_models_of(routes)).items():
        for variant in (name, f"{name}-Input", f"{name}-Output"):
            if "examples" in schemas.get(variant, {}):
                schemas[variant]["examples"] = examples


def _models_of(routes: Sequence[BaseRoute]) -> list[Any]:
    """The types whose schemas the routes' bodies and answers refer to."""
    found: list[Any] = []
    # Routers are included lazily (FastAPI 0.165): their routes are reached through contexts.
    for context in iter_route_contexts(routes):
        route = context.original_route
        if not isinstance(route, APIRoute):
            continue
        found.append(route.response_model)
        found += [answer.get("model") for answer in route.responses.values()]
        found += [param.field_info.annotation for param in route.dependant.body_params]
    return [model for model in dict.fromkeys(found) if model is not None]


def _examples_of(models: list[Any]) -> dict[str, list[Any]]:
    """The examples of each named schema among those of ``models`` and of what they nest."""
    examples: dict[str, list[Any]] = {}
    for model in models:
        try:
            schema = TypeAdapter(model).json_schema(mode="serialization")
        except PydanticUserError:  # not a type pydantic describes: nothing to put back
            continue
        for name, named in {schema.get("title", ""): schema, **schema.get("$defs", {})}.items():
            if name and "examples" in named:
                examples.setdefault(name, named["examples"])
    return examples


def with_tags(document: dict[str, Any]) -> dict[str, Any]:
    """Every tag an operation uses declared at the top, in the order first used (a client
    generator groups operations by them; a linter refuses tags used but not declared)."""
    declared = document.setdefault("tags", [])
    known = {tag["name"] for tag in declared}
    for _, operation in _operations(document):
        for name in operation.get("tags", []):
            if name not in known:
                declared.append({"name": name})
                known.add(name)
    if not declared:
        del document["tags"]
    return document


def with_server(document: dict[str, Any]) -> dict[str, Any]:
    """The server is the one that served the document: each organisation runs its own, under
    its own name, and a path relative to the document is right for all of them."""
    document.setdefault("servers", [{"url": "/", "description": "This service"}])
    return document


def _operations(document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (method, operation)
        for methods in document.get("paths", {}).values()
        for method, operation in methods.items()
        if method in {"get", "put", "post", "patch", "delete"}
    ]


def _implied(method: str, operation: dict[str, Any]) -> dict[int, str]:
    traits = ["any"]
    if operation.get("security"):
        traits.append("token")
    if operation.get("parameters"):
        traits.append("parameters")
    if "requestBody" in operation:
        traits.append("body")
    if method in _WRITES:
        traits.append("write")
    implied: dict[int, list[str]] = {}
    for trait in traits:
        for status, description in _BY_TRAIT[trait].items():
            implied.setdefault(status, []).append(description)
    return {status: " ".join(texts) for status, texts in implied.items()}


def _schema(status: str, response: dict[str, Any]) -> dict[str, Any]:
    declared: dict[str, Any] = next(
        (media.get("schema", {}) for media in response.get("content", {}).values()), {}
    )
    if declared and declared.get("$ref") != _FASTAPI_VALIDATION:
        return declared
    return {"$ref": _VALIDATION_PROBLEM if status == "422" else _PROBLEM}


def _schemas_of(*models: type[BaseModel]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for model in models:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        found.update(schema.pop("$defs", {}))
        found[model.__name__] = schema
    return found


def _drop_unused(document: dict[str, Any], names: tuple[str, ...]) -> None:
    text = json.dumps(document.get("paths", {}))
    schemas = document["components"]["schemas"]
    for name in names:
        # The closing quote: Problem is not used because ValidationProblem is.
        if json.dumps(f"#/components/schemas/{name}") not in text:
            schemas.pop(name, None)
