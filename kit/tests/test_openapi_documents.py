"""The OpenAPI document declares each error as the kit answers it: problem details, with
every status an operation's traits (a token, a body, parameters, a write) can bring; and the
tags and server FastAPI leaves out."""

from typing import Annotated, Any

import httpx
import structlog
from fastapi import APIRouter, Depends, FastAPI, HTTPException
from pydantic import BaseModel, ConfigDict
from retour_test_apps import bare_service_app

from retour_kit.auth import Principal, Role, require_roles
from retour_kit.problems import MEDIA_TYPE, Problem, problem

Registrar = Annotated[Principal, Depends(require_roles(Role.REGISTRAR))]


class Thing(BaseModel):
    name: str


class HeldProblem(Problem):
    holder: str


def service_with_routes() -> FastAPI:
    app = bare_service_app()

    @app.post(
        "/things/{thing_id}",
        status_code=201,
        responses={
            404: {"description": "No such thing (`thing_not_found`)."},
            409: {"model": HeldProblem, "description": "Held by another (`held`)."},
        },
    )
    async def make(thing_id: str, thing: Thing, registrar: Registrar) -> dict[str, str]:
        raise HTTPException(404, "no such thing")

    @app.get("/things")
    async def list_things(limit: int = 10) -> list[str]:
        return []

    @app.get("/status")
    async def status() -> dict[str, str]:
        return {}

    return app


def responses_of(document: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    responses: dict[str, Any] = document["paths"][path][method]["responses"]
    return responses


def test_a_write_with_a_token_and_a_body_declares_every_error_it_can_answer() -> None:
    document = service_with_routes().openapi()

    responses = responses_of(document, "/things/{thing_id}", "post")

    errors = [status for status in responses if status >= "400"]
    assert errors == ["400", "401", "403", "404", "409", "413", "415", "422", "428", "503"]
    for status in errors:
        assert list(responses[status]["content"]) == [MEDIA_TYPE], status
    assert responses["201"]["content"].keys() == {"application/json"}


def test_a_route_keeps_its_own_description_and_model_and_gains_the_kits() -> None:
    document = service_with_routes().openapi()

    responses = responses_of(document, "/things/{thing_id}", "post")

    conflict = responses["409"]
    assert conflict["description"].startswith("Held by another (`held`).")
    assert "`idempotency_key_reused`" in conflict["description"]
    assert conflict["content"][MEDIA_TYPE]["schema"] == {"$ref": "#/components/schemas/HeldProblem"}
    assert responses["404"]["description"] == "No such thing (`thing_not_found`)."
    assert responses["404"]["content"][MEDIA_TYPE]["schema"] == {
        "$ref": "#/components/schemas/Problem"
    }


def test_fastapis_own_validation_shape_is_replaced_everywhere() -> None:
    document = service_with_routes().openapi()

    listing = responses_of(document, "/things", "get")

    assert sorted(listing) == ["200", "422", "503"]
    assert listing["422"]["content"][MEDIA_TYPE]["schema"] == {
        "$ref": "#/components/schemas/ValidationProblem"
    }
    assert "HTTPValidationError" not in document["components"]["schemas"]
    assert "ValidationError" not in document["components"]["schemas"]
    assert "HTTPValidationError" not in str(document)


def test_an_operation_without_parameters_token_or_body_can_still_be_unavailable() -> None:
    document = service_with_routes().openapi()

    assert sorted(responses_of(document, "/status", "get")) == ["200", "503"]


async def test_the_answers_match_the_declared_problem_schema() -> None:
    app = service_with_routes()
    document = app.openapi()
    schemas = document["components"]["schemas"]
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        unauthorised = await client.post("/things/1", json={"name": "x"})
        invalid = await client.get("/things", params={"limit": "many"})

    assert unauthorised.status_code == 401
    assert unauthorised.headers["content-type"] == MEDIA_TYPE
    assert set(schemas["Problem"]["required"]) <= set(unauthorised.json())
    assert invalid.status_code == 422
    assert invalid.json()["errors"][0]["field"] == "query.limit"
    assert set(schemas["ValidationProblem"]["required"]) <= set(invalid.json())


def test_an_extension_member_never_replaces_a_standard_one() -> None:
    with structlog.testing.capture_logs() as logged:
        shadowing = problem(409, "held", "held", extra={"status": "closed", "holder": "h"})

    # The client still gets its 409, and the log names the member, never its value.
    assert shadowing["status"] == 409 and shadowing["holder"] == "h"
    assert logged == [
        {
            "event": "problem extension members dropped",
            "code": "held",
            "members": ["status"],
            "log_level": "error",
        }
    ]
    assert problem(409, "held", "held", extra={"holder": "h"}) == {
        "type": "/problems/held",
        "title": "Held",
        "status": 409,
        "detail": "held",
        "error": "held",
        "holder": "h",
    }


def test_the_tags_operations_use_are_declared_and_the_server_is_the_documents_own() -> None:
    app = service_with_routes()

    @app.get("/tagged", tags=["things", "audit"])
    async def tagged() -> dict[str, str]:
        return {}

    document = app.openapi()

    assert document["tags"] == [{"name": "things"}, {"name": "audit"}]
    assert document["servers"] == [{"url": "/", "description": "This service"}]


class Visit(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"visited_on": "2024-09-11", "outcome": None}]}
    )

    visited_on: str
    outcome: str | None


def test_examples_keep_their_nulls() -> None:
    # FastAPI writes its document without any null, examples' included.
    app = service_with_routes()
    router = APIRouter()  # the services' routes come through routers

    @router.get("/visits/{visit_id}")
    async def visit(visit_id: str) -> Visit:
        return Visit(visited_on="2024-09-11", outcome=None)

    app.include_router(router)

    examples = app.openapi()["components"]["schemas"]["Visit"]["examples"]

    assert examples == [{"visited_on": "2024-09-11", "outcome": None}]
