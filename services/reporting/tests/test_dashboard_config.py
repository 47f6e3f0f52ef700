"""What the dashboard's script learns about signing in, and the one other origin its page may
reach: the identity provider's, for the code's exchange, and only when one is configured."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from retour_reporting.entrypoints.dashboard import DashboardSignIn, dashboard_routes

ISSUER = "http://127.0.0.1:8180/realms/retour"


async def answers(sign_in: DashboardSignIn) -> tuple[httpx.Response, httpx.Response]:
    app = FastAPI()
    app.include_router(dashboard_routes(sign_in))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        return await http.get("/dashboard-config.json"), await http.get("/")


async def test_with_an_issuer_the_page_may_reach_its_origin_and_nothing_else() -> None:
    config, page = await answers(DashboardSignIn(issuer=ISSUER, client_id="retour-dashboard"))
    assert config.json() == {"oidc": {"issuer": ISSUER, "client_id": "retour-dashboard"}}
    policy = page.headers["content-security-policy"]
    assert "connect-src 'self' http://127.0.0.1:8180;" in policy
    assert "script-src 'self';" in policy  # scripts still from this origin only
    assert config.headers["content-security-policy"] == policy


async def test_without_an_issuer_analysts_paste_a_token_and_the_page_reaches_itself() -> None:
    config, page = await answers(DashboardSignIn())
    assert config.json() == {"oidc": None}
    assert "connect-src 'self';" in page.headers["content-security-policy"]
