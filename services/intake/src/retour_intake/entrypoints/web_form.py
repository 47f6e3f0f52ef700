"""The offline registration form at ``/form/``: the bundle web/build.sh builds into
``retour_intake/static/form`` (ODK Web Forms rendering intake's own XForm).

The page and its files hold no data, so they are served without authentication; the page
sends the device's credentials (HTTP Basic) or a bearer token with its requests to
``/forms/retour_registration.xml`` and ``/submission``, on this same origin, like any OpenRosa
client. Queued registrations live in the browser's IndexedDB until intake accepts them.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, RedirectResponse, Response

from retour_kit.http_errors import ApiError

FORM_ROOT = Path(__file__).resolve().parent.parent / "static" / "form"

# Everything comes from this origin: no CDN, no web font from elsewhere (there may be no
# internet at all). ODK Web Forms inserts its own <style> elements (its CSS ships inside its
# script), inlines its fonts as data: URLs and compiles its XPath parser from WebAssembly,
# hence 'unsafe-inline' for styles, data: for fonts and 'wasm-unsafe-eval' (WebAssembly only,
# not JavaScript's eval) for scripts. No inline script is allowed.
_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self';"
        " style-src 'self' 'unsafe-inline'; font-src 'self' data:; img-src 'self' data: blob:;"
        " connect-src 'self' data:; manifest-src 'self'; base-uri 'none'; form-action 'self';"
        " frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
# The page and the service worker are revalidated on every load, so a new build is picked up
# at once; the hashed files under assets/ never change content.
_REVALIDATE = "no-cache"
_IMMUTABLE = "public, max-age=31536000, immutable"
_MEDIA_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}


def web_form_routes(root: Path = FORM_ROOT) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/form")
    def form_without_slash() -> Response:
        # The page's relative URLs and its service worker's scope are under /form/.
        return RedirectResponse("/form/", status_code=308)

    @router.get("/form/{asset_path:path}")
    def form_asset(asset_path: str) -> Response:
        return _serve(root, asset_path or "index.html")

    return router


def _serve(root: Path, asset_path: str) -> Response:
    if not (root / "index.html").is_file():
        raise ApiError(
            503, "form_not_built", "the offline form is not built: run web/build.sh first"
        )
    file = (root / asset_path).resolve()
    if not file.is_relative_to(root.resolve()) or not file.is_file() or file.name.startswith("."):
        raise ApiError(404, "not_found", "no such file in the offline form")
    cache = _IMMUTABLE if file.parent.name == "assets" else _REVALIDATE
    media_type = _MEDIA_TYPES.get(file.suffix) or mimetypes.guess_type(file.name)[0]
    return FileResponse(
        file,
        media_type=media_type or "application/octet-stream",
        headers={**_SECURITY_HEADERS, "Cache-Control": cache},
    )
