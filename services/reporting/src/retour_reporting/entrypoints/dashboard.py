"""The dashboard at ``/``: a static page that draws its charts from the JSON reports.

The page and its script hold no data, so they are served without authentication; the script
calls the report endpoints with a bearer token, like any other client. The token is taken
from the address fragment once (``/#token=...``: fragments never reach servers, logs or
Referer headers), kept in the tab's sessionStorage and removed from the address bar; a
form accepts a pasted token too. No cookie is set, so there is no CSRF surface. Behind an
identity provider, a login redirect would supply the same token.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import cache
from importlib import resources

from fastapi import APIRouter
from fastapi.responses import Response

# Everything is served from this origin: no CDN (there may be no internet) and no inline
# script, so an injected string could never run.
_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self';"
        " img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
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


def dashboard_routes() -> APIRouter:
    router = APIRouter(include_in_schema=False)
    for path, (file_name, media_type) in _ASSETS.items():
        router.add_api_route(path, _serve(file_name, media_type), methods=["GET"])
    return router


def _serve(file_name: str, media_type: str) -> Callable[[], Awaitable[Response]]:
    async def asset() -> Response:
        return Response(_asset(file_name), media_type=media_type, headers=_SECURITY_HEADERS)

    return asset
