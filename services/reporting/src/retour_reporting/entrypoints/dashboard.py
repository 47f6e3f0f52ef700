"""The dashboard at ``/``: a static page that draws its charts from the JSON reports.

The page and its script hold no data, so they are served without authentication; the script
calls the report endpoints with a bearer token, like any other client. The token is taken
from the address fragment once (``/#token=...``: fragments never reach servers, logs or
Referer headers), kept in the tab's sessionStorage and removed from the address bar; a
form accepts a pasted token too. No cookie is set, so there is no CSRF surface. With an
identity provider (DASHBOARD_OIDC_ISSUER), the page signs analysts in itself: the OpenID
Connect authorization code flow with PKCE, as the public client DASHBOARD_OIDC_CLIENT_ID,
whose token lands in the same sessionStorage; ``/dashboard-config.json`` tells the script
where the issuer is, and the page may connect to that origin (the code's exchange), nowhere
else.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from retour_reporting.settings import Settings


# Everything is served from this origin: no CDN (there may be no internet) and no inline
# script, so an injected string could never run.
def _security_headers(connect_to: str) -> dict[str, str]:
    return {
        "Content-Security-Policy": (
            f"default-src 'none'; script-src 'self'; style-src 'self'; connect-src {connect_to};"
            " img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
        ),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-cache",
    }


@dataclass(frozen=True)
class DashboardSignIn:
    """Where the dashboard signs analysts in; no issuer: they paste a token."""

    issuer: str | None = None
    client_id: str = "retour-dashboard"

    @classmethod
    def from_settings(cls, settings: Settings) -> DashboardSignIn:
        issuer = settings.dashboard_oidc_issuer
        return cls(
            issuer=str(issuer).rstrip("/") if issuer else None,
            client_id=settings.dashboard_oidc_client_id,
        )

    def connect_to(self) -> str:
        """The CSP's connect-src: this origin, and the issuer's for the code's exchange."""
        if self.issuer is None:
            return "'self'"
        parts = urlsplit(self.issuer)
        return f"'self' {parts.scheme}://{parts.netloc}"

    def config(self) -> dict[str, Any]:
        if self.issuer is None:
            return {"oidc": None}
        return {"oidc": {"issuer": self.issuer, "client_id": self.client_id}}


_ASSETS = {
    "/": ("dashboard.html", "text/html; charset=utf-8"),
    "/dashboard.js": ("dashboard.js", "text/javascript; charset=utf-8"),
    "/dashboard-texts.js": ("dashboard-texts.js", "text/javascript; charset=utf-8"),
    "/dashboard.css": ("dashboard.css", "text/css; charset=utf-8"),
}


@cache
def _asset(file_name: str) -> bytes:
    static = resources.files("retour_reporting.entrypoints").joinpath("static")
    return static.joinpath(file_name).read_bytes()


def dashboard_routes(sign_in: DashboardSignIn | None = None) -> APIRouter:
    sign_in = sign_in or DashboardSignIn()
    headers = _security_headers(sign_in.connect_to())
    router = APIRouter(include_in_schema=False)
    for path, (file_name, media_type) in _ASSETS.items():
        router.add_api_route(path, _serve(file_name, media_type, headers), methods=["GET"])

    @router.get("/dashboard-config.json")
    async def config() -> JSONResponse:
        return JSONResponse(sign_in.config(), headers=headers)

    return router


def _serve(
    file_name: str, media_type: str, headers: dict[str, str]
) -> Callable[[], Awaitable[Response]]:
    async def asset() -> Response:
        return Response(_asset(file_name), media_type=media_type, headers=headers)

    return asset
