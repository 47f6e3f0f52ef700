"""What every service's composition root promises, checked the same way for all four.

The apps are built with explicit settings pointing at nothing (port 1): building one must do
no I/O, /healthz must answer without dependencies, /readyz must say which are unreachable.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

SERVICES = {"intake": 8001, "reintegration": 8002, "notifications": 8003, "reporting": 8004}


def settings_and_app(service: str) -> tuple[Any, FastAPI]:
    settings_cls = importlib.import_module(f"retour_{service}.settings").Settings
    build_app = importlib.import_module(f"retour_{service}.main").build_app
    settings = settings_cls(
        database_url=f"postgresql://{service}@127.0.0.1:1/unused",
        auth_jwt_secret="test-secret-that-is-at-least-32-chars",
        kafka_bootstrap_servers="127.0.0.1:1",
    )
    return settings, build_app(settings)


@pytest.fixture(params=sorted(SERVICES))
async def service(
    request: pytest.FixtureRequest,
) -> AsyncIterator[tuple[str, Any, httpx.AsyncClient]]:
    name: str = request.param
    settings, app = settings_and_app(name)
    # ASGITransport does not run the lifespan: no pool, no Kafka, nothing started.
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield name, settings, client


async def test_defaults_name_the_service_and_its_port(
    service: tuple[str, Any, httpx.AsyncClient],
) -> None:
    name, settings, _ = service
    assert settings.service_name == f"retour-{name}"
    assert type(settings).model_fields["http_port"].default == SERVICES[name]


async def test_healthz_answers_without_touching_dependencies(
    service: tuple[str, Any, httpx.AsyncClient],
) -> None:
    _, _, client = service
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_names_the_unreachable_dependencies(
    service: tuple[str, Any, httpx.AsyncClient],
) -> None:
    _, _, client = service
    response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["status"] == "not_ready"
    assert response.json()["checks"]["postgres"] != "ok"
    assert response.json()["checks"]["kafka"] != "ok"


async def test_metrics_are_served(service: tuple[str, Any, httpx.AsyncClient]) -> None:
    _, _, client = service
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert "http_requests_total" in response.text
