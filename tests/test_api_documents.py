"""What every service's OpenAPI document promises its clients, read from the document alone
(the apps are built pointing at nothing, as in test_service_apps): each success has a schema
and an example that matches it, CSV exports say they are CSV, and each error is a problem
details body.

Whether the services really answer what their documents say is test_api_fuzz's part.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import jsonschema
import pytest
from test_service_apps import settings_and_app

from retour_kit.problems import MEDIA_TYPE as PROBLEM

SERVICES = ("intake", "reintegration", "notifications", "reporting")
CSV = "text/csv"
# What FastAPI writes for a route returning dict[str, Any]: any object, which says nothing.
_ANY_OBJECT = {"type": "object", "additionalProperties": True}


@dataclass(frozen=True)
class Answer:
    service: str
    method: str
    path: str
    status: str
    response: dict[str, Any]

    def __str__(self) -> str:
        return f"{self.service} {self.method.upper()} {self.path} {self.status}"


def documents() -> Iterator[tuple[str, dict[str, Any]]]:
    for service in SERVICES:
        _, app = settings_and_app(service)
        yield service, app.openapi()


def answers(service: str, document: dict[str, Any]) -> Iterator[Answer]:
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            for status, response in operation.get("responses", {}).items():
                yield Answer(service, method, path, status, response)


Answers = list[tuple[Answer, dict[str, Any]]]


@pytest.fixture(scope="module")
def every_answer() -> Answers:
    """Every response of every operation of the four documents, with its document."""
    return [(a, doc) for service, doc in documents() for a in answers(service, doc)]


def component(schema: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def has_example(media: dict[str, Any], document: dict[str, Any]) -> bool:
    if media.get("example") is not None or media.get("examples"):
        return True
    schema = component(media.get("schema", {}), document)
    return bool(schema.get("examples") or schema.get("example") is not None)


def successes(every_answer: Answers) -> Answers:
    return [(a, d) for a, d in every_answer if a.status.startswith("2") and a.status != "204"]


def test_every_success_has_a_schema_and_an_example(every_answer: Answers) -> None:
    missing = []
    for answer, document in successes(every_answer):
        content = answer.response.get("content") or {}
        if not content:
            missing.append(f"{answer}: no content declared")
        for media_type, media in content.items():
            schema = media.get("schema") or {}
            bare = {k: v for k, v in schema.items() if k not in {"title", "description"}}
            if not bare or bare == _ANY_OBJECT:
                missing.append(f"{answer} {media_type}: no schema")
            if not has_example(media, document):
                missing.append(f"{answer} {media_type}: no example")
    assert not missing, "\n".join(missing)


def test_csv_exports_declare_csv_only(every_answer: Answers) -> None:
    exports = [(a, d) for a, d in successes(every_answer) if a.path.endswith(".csv")]
    assert exports, "no CSV export in any document"
    wrong = [
        f"{answer}: {sorted(answer.response.get('content', {}))}"
        for answer, _ in exports
        if list(answer.response.get("content", {})) != [CSV]
    ]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("service", SERVICES)
def test_every_example_matches_its_own_schema(service: str) -> None:
    _, app = settings_and_app(service)
    document = app.openapi()
    wrong = []
    for name, schema in document["components"]["schemas"].items():
        validator = jsonschema.Draft202012Validator(
            {**schema, "components": document["components"]}
        )
        for number, example in enumerate(schema.get("examples", [])):
            error = jsonschema.exceptions.best_match(validator.iter_errors(example))
            if error is not None:
                where = "/".join(str(part) for part in error.absolute_path)
                wrong.append(f"{name} example {number} at /{where}: {error.message[:160]}")
    assert not wrong, f"{service}:\n" + "\n".join(wrong)


@pytest.mark.parametrize("service", SERVICES)
def test_every_error_is_problem_details(every_answer: Answers, service: str) -> None:
    errors = [a for a, _ in every_answer if a.service == service and a.status[0] in "45"]
    assert errors, f"{service}: no error declared"
    wrong = [
        f"{a}: {sorted(a.response.get('content', {}))}"
        for a in errors
        if list(a.response.get("content", {})) != [PROBLEM]
    ]
    assert not wrong, "\n".join(wrong)
