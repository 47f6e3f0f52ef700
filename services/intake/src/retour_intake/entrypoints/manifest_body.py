"""A manifest's body, read before the kit's request guards.

The kit guards every route alike: JSON bodies only (415 otherwise) of at most
HTTP_MAX_BODY_BYTES (64 KiB). A manifest is the one body of intake that is larger (5,000
people make about 1.5 MB) and may be CSV. This middleware, installed outermost, reads the
body of ``POST /expected-arrivals`` alone, up to EXPECTED_ARRIVALS_MAX_BODY_BYTES (413
beyond), and hands it to the route in the request's scope; the guards then see a request
without a body, and every other route keeps them unchanged.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from retour_kit.http_errors import error_response

MANIFEST_PATH = "/expected-arrivals"
_BODY = "retour.manifest_body"
_CONTENT_TYPE = "retour.manifest_content_type"


class ManifestBodyMiddleware:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not _is_manifest(scope):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        declared = headers.get("content-length", "")
        too_large = declared.isdigit() and int(declared) > self.max_body_bytes
        body = None if too_large else await self._read(receive)
        if body is None:
            detail = f"a manifest larger than {self.max_body_bytes} bytes"
            await error_response(413, detail, error="payload_too_large")(scope, receive, send)
            return
        await self.app(_without_body(scope, body, headers), _nothing_more(receive), send)

    async def _read(self, receive: Receive) -> bytes | None:
        """The whole body, or None as soon as it passes the limit (never buffered whole)."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return b"".join(chunks)
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def _is_manifest(scope: Scope) -> bool:
    return (
        scope["type"] == "http"
        and scope["method"] == "POST"
        and str(scope["path"]).rstrip("/") == MANIFEST_PATH
    )


def _without_body(scope: Scope, body: bytes, headers: Headers) -> Scope:
    kept = [
        (name, value)
        for name, value in scope["headers"]
        if name not in (b"content-length", b"transfer-encoding")
    ]
    return {
        **scope,
        "headers": [*kept, (b"content-length", b"0")],
        _BODY: body,
        _CONTENT_TYPE: headers.get("content-type", ""),
    }


def _nothing_more(receive: Receive) -> Receive:
    sent = False

    async def empty_then_disconnection() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": b"", "more_body": False}
        return await receive()

    return empty_then_disconnection


def manifest_body(request: Request) -> tuple[bytes, str]:
    """The body and its media type (``text/csv``), as the middleware read them."""
    body = request.scope.get(_BODY, b"")
    media_type = request.scope.get(_CONTENT_TYPE, "").split(";", 1)[0].strip().lower()
    return body, media_type
