import base64

import httpx

from retour_intake.main import build_app
from retour_intake.settings import Settings


def explicit_settings() -> Settings:
    return Settings(
        database_url="postgresql://intake@127.0.0.1:1/unused",
        auth_jwt_secret="test-secret-that-is-at-least-32-chars",
        master_key=f"test:{base64.b64encode(bytes(32)).decode()}",
        kafka_bootstrap_servers="127.0.0.1:1",
    )


async def test_openapi_carries_a_valid_example_registration() -> None:
    from retour_intake.domain.commands import RegisterReturnee

    app = build_app(explicit_settings())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        document = (await client.get("/openapi.json")).json()
    body_ref = document["paths"]["/returnees"]["post"]["requestBody"]["content"][
        "application/json"
    ]["schema"]["$ref"]
    schema = document["components"]["schemas"][body_ref.rsplit("/", 1)[1]]
    [example] = schema["examples"]
    assert RegisterReturnee.model_validate(example).personal.given_name


async def test_metrics_expose_registrations_and_outbox_health() -> None:
    app = build_app(explicit_settings())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        text = (await client.get("/metrics")).text
    for name in (
        "http_requests_total",
        "intake_registrations_total",
        "outbox_backlog_rows",
        "outbox_oldest_row_age_seconds",
        "outbox_publish_failures_total",
    ):
        assert name in text, name
