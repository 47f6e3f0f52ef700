import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI, Request
from pydantic import BaseModel
from retour_test_apps import bare_service_app

from retour_kit.http_limits import BodyRule
from retour_kit.problems import fields_detail
from retour_kit.readiness import ReadinessCheck


class Registration(BaseModel):
    first_name: str
    host_country: str


async def healthy() -> None:
    return None


async def refusing() -> None:
    raise ConnectionRefusedError("db down")


async def hanging() -> None:
    await asyncio.sleep(60)


CSV_PATH = "/manifests"
ANY_PATH = "/submissions"
CSV_RULE = {
    ("POST", CSV_PATH): BodyRule(frozenset({"text/csv"}), max_bytes=4096),
    ("POST", ANY_PATH): BodyRule(media_types=None),
}


def build_test_app(readiness: list[ReadinessCheck] | None = None) -> FastAPI:
    app = bare_service_app(readiness or [], body_rules=CSV_RULE, http_max_body_bytes=1024)

    @app.post(CSV_PATH)
    @app.post(ANY_PATH)
    async def manifest(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    @app.post("/returnees/{returnee_id}/registration", status_code=201)
    async def register(returnee_id: str, registration: Registration) -> dict[str, str]:
        return {"returnee_id": returnee_id}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals")

    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    # raise_app_exceptions=False: see what a real client sees when a route crashes.
    transport = httpx.ASGITransport(app=build_test_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


PATH = "/returnees/r-1/registration"


class TestErrorBodies:
    async def test_validation_errors_name_fields_by_dotted_location(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.post(PATH, json={"first_name": "Awa"})

        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json() == {
            "type": "/problems/validation_error",
            "title": "Validation error",
            "status": 422,
            "detail": "1 field is invalid: body.host_country",
            "error": "validation_error",
            "errors": [
                {"field": "body.host_country", "message": "Field required", "type": "missing"}
            ],
        }

    def test_a_field_wrong_in_two_ways_is_one_invalid_field(self) -> None:
        detail = fields_detail(["body.phone", "body.phone", "body.arrival_date"])
        assert detail == "2 fields are invalid: body.phone, body.arrival_date"
        assert fields_detail(["body.phone", "body.phone"]) == "1 field is invalid: body.phone"

    async def test_validation_errors_never_echo_input(self, client: httpx.AsyncClient) -> None:
        response = await client.post(PATH, json={"first_name": ["Awa Traoré"], "host_country": 1})

        assert response.status_code == 422
        assert "Awa" not in response.text

    async def test_malformed_json_is_400(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            PATH, content=b'{"first_name": ', headers={"Content-Type": "application/json"}
        )

        assert response.status_code == 400
        assert response.json()["error"] == "malformed_json"

    async def test_non_json_body_is_415(self, client: httpx.AsyncClient) -> None:
        response = await client.post(PATH, data={"first_name": "Awa", "host_country": "LY"})

        assert response.status_code == 415
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["error"] == "unsupported_media_type"
        assert response.json()["type"] == "/problems/unsupported_media_type"

    async def test_declared_oversized_body_is_413(self, client: httpx.AsyncClient) -> None:
        response = await client.post(PATH, json={"first_name": "A" * 2000, "host_country": "LY"})

        assert response.status_code == 413
        assert response.json()["error"] == "payload_too_large"

    async def test_streamed_oversized_body_is_413(self, client: httpx.AsyncClient) -> None:
        async def chunks() -> AsyncIterator[bytes]:
            yield b'{"first_name": "'
            for _ in range(10):
                yield b"A" * 200
            yield b'", "host_country": "LY"}'

        response = await client.post(
            PATH, content=chunks(), headers={"Content-Type": "application/json"}
        )

        assert "content-length" not in response.request.headers
        assert response.status_code == 413
        assert response.json()["error"] == "payload_too_large"

    async def test_a_route_with_a_body_rule_takes_its_media_type_and_size(
        self, client: httpx.AsyncClient
    ) -> None:
        csv = {"Content-Type": "text/csv; charset=utf-8"}
        taken = await client.post(CSV_PATH, content=b"a;b\n" * 500, headers=csv)  # 2000 bytes
        assert taken.status_code == 200 and taken.json() == {"bytes": 2000}

        too_large = await client.post(CSV_PATH, content=b"a;b\n" * 1100, headers=csv)
        assert too_large.status_code == 413
        json_instead = await client.post(CSV_PATH, json={"a": "b"})
        assert json_instead.status_code == 415
        assert json_instead.json()["detail"] == "request body must be sent as text/csv"
        # A rule without media types lets any through, within the default size.
        xml = {"Content-Type": "text/xml"}
        anything = await client.post(ANY_PATH, content=b"<x/>", headers=xml)
        assert anything.status_code == 200 and anything.json() == {"bytes": 4}
        too_large_still = await client.post(ANY_PATH, content=b"x" * 2000, headers=xml)
        assert too_large_still.status_code == 413
        # Every other route keeps the defaults: JSON only, HTTP_MAX_BODY_BYTES.
        other = await client.post(PATH, content=b"a;b\n" * 10, headers=csv)
        assert other.status_code == 415

    async def test_unknown_route_is_404_json(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/nowhere")

        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json() == {
            "type": "/problems/not_found",
            "title": "Not found",
            "status": 404,
            "detail": "Not Found",
            "error": "not_found",
        }

    async def test_unhandled_exception_is_500_without_internals(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.get("/boom")

        assert response.status_code == 500
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json() == {
            "type": "/problems/internal_error",
            "title": "Internal error",
            "status": 500,
            "detail": "an unexpected error occurred",
            "error": "internal_error",
        }


class TestOperationalEndpoints:
    async def test_metrics_count_requests_by_route_template(
        self, client: httpx.AsyncClient
    ) -> None:
        await client.post(PATH, json={"first_name": "Awa", "host_country": "LY"})
        await client.get("/boom")

        response = await client.get("/metrics")

        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        assert (
            'http_requests_total{method="POST",'
            'route="/returnees/{returnee_id}/registration",status="201"} 1.0'
        ) in response.text
        assert 'http_requests_total{method="GET",route="/boom",status="500"} 1.0' in response.text
        assert "http_request_duration_seconds_bucket" in response.text

    async def test_readyz_is_200_when_every_check_passes(self) -> None:
        app = build_test_app([ReadinessCheck("postgres", healthy)])

        response = await get(app, "/readyz")

        assert response.status_code == 200
        assert response.json() == {
            "status": "ready",
            "checks": {"postgres": "ok"},
            "degraded": [],
        }

    async def test_readyz_stays_200_naming_an_optional_check_that_fails(self) -> None:
        app = build_test_app(
            [
                ReadinessCheck("postgres", healthy),
                ReadinessCheck("kafka", refusing, required=False),
            ]
        )

        response = await get(app, "/readyz")

        assert response.status_code == 200
        assert response.json() == {
            "status": "ready",
            "checks": {"postgres": "ok", "kafka": "failed"},
            "degraded": ["kafka"],
        }

    async def test_readyz_is_503_naming_the_failed_check(self) -> None:
        app = build_test_app(
            [
                ReadinessCheck("postgres", refusing),
                ReadinessCheck("kafka", hanging, timeout_seconds=0.05),
                ReadinessCheck("cache", healthy),
            ]
        )

        response = await get(app, "/readyz")

        assert response.status_code == 503
        assert response.json() == {
            "status": "not_ready",
            "checks": {"postgres": "failed", "kafka": "timeout", "cache": "ok"},
            "degraded": [],
        }


async def get(app: FastAPI, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get(path)
