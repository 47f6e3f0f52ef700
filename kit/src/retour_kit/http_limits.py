"""Request guards: body size and content type before any route, and a client that left."""

import asyncio
import contextlib
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from retour_kit.http_errors import ApiError, ClientLeftError, error_response

DEFAULT_MAX_BODY_BYTES = 64 * 1024
T = TypeVar("T")


@dataclass(frozen=True)
class BodyRule:
    """The body one route takes instead of the default (JSON, HTTP_MAX_BODY_BYTES): a
    manifest as CSV up to a few megabytes, a form as multipart. Declared by the service's
    wiring, keyed by ``(method, path)``; the route then reads its body itself."""

    media_types: frozenset[str] | None
    """None: any; the route answers for a body it cannot read (in its protocol's own terms,
    as OpenRosa's submission does)."""
    max_bytes: int | None = None
    """None: the service's HTTP_MAX_BODY_BYTES."""


BodyRules = Mapping[tuple[str, str], BodyRule]


def _rule_for(rules: BodyRules, scope: Scope) -> BodyRule | None:
    return rules.get((scope["method"], scope["path"])) if rules else None


class BodySizeLimitMiddleware:
    """Answers 413 for request bodies above `max_body_bytes`.

    The declared Content-Length is checked up front; chunked or lying clients are
    caught while the body streams in, so an oversized body is never buffered whole.
    """

    def __init__(
        self,
        app: ASGIApp,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        rules: BodyRules | None = None,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.rules: BodyRules = rules or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rule = _rule_for(self.rules, scope)
        limit = rule.max_bytes if rule and rule.max_bytes is not None else self.max_body_bytes
        detail = f"request body larger than {limit} bytes"
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await error_response(413, detail, error="payload_too_large")(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                # Raised inside the route's body read, so the HTTPException handler answers.
                raise ApiError(413, "payload_too_large", detail)
            return message

        await self.app(scope, limited_receive, send)


class JsonContentTypeMiddleware:
    """Answers 415 when a request carries a body that is not declared as JSON, or as one of
    the media types its route's ``BodyRule`` names.

    Without this, FastAPI hands a non-JSON body to validation, which reports a
    confusing 422 about the body's type instead of the real problem.
    """

    def __init__(self, app: ASGIApp, rules: BodyRules | None = None) -> None:
        self.app = app
        self.rules: BodyRules = rules or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = Headers(scope=scope)
            content_type = headers.get("content-type", "")
            rule = _rule_for(self.rules, scope)
            accepted = _is_json(content_type) if rule is None else rule_accepts(rule, content_type)
            if _has_body(headers) and not accepted:
                names = " or ".join(sorted(rule.media_types or ())) if rule else "application/json"
                answer = error_response(415, f"request body must be sent as {names}")
                await answer(scope, receive, send)
                return
        await self.app(scope, receive, send)


def media_type(content_type: str) -> str:
    """``text/csv`` of ``text/csv; charset=utf-8``, lower case."""
    return content_type.split(";", 1)[0].strip().lower()


def rule_accepts(rule: BodyRule, content_type: str) -> bool:
    return rule.media_types is None or media_type(content_type) in rule.media_types


def _has_body(headers: Headers) -> bool:
    return headers.get("content-length", "0") != "0" or "transfer-encoding" in headers


def _is_json(content_type: str) -> bool:
    declared = media_type(content_type)
    return declared == "application/json" or (
        declared.startswith("application/") and declared.endswith("+json")
    )


async def unless_client_leaves(request: Request, work: Awaitable[T]) -> T:
    """Awaits `work`, cancelling it if the client disconnects first (ClientLeftError).

    A server does not notice on its own that the client gave up: a handler would run its
    query to the end for nobody. Cancelling the awaiting task makes asyncpg send Postgres a
    cancel request, so the statement stops too instead of running on in pg_stat_activity.
    For routes without a request body: the watcher reads the request's messages itself.
    """
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnection(request))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    except BaseException:
        task.cancel()  # the handler itself was cancelled: the work goes with it
        raise
    finally:
        watcher.cancel()
    if task.done():
        return task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    refused = None if watcher.cancelled() else watcher.exception()
    if refused is not None:
        raise refused  # not a departure: a guard refused the request (a 413, say)
    raise ClientLeftError


async def _disconnection(request: Request) -> None:
    # Once the (empty) body has been read, the next message is the disconnection: servers
    # send it when the connection closes, or when the response is complete.
    while (await request.receive())["type"] != "http.disconnect":
        pass
