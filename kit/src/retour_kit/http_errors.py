"""The answers to every error the HTTP layer produces: RFC 9457 problem details
(`retour_kit.problems`), whose `error` member is the machine code clients branch on; validation
failures list the fields at fault in `errors: [{"field", "message", "type"}]`.
Request input is never echoed back: it may carry personal data.
"""

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import asyncpg
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from retour_kit.pagination import InvalidCursor
from retour_kit.problems import fields_detail, problem_response
from retour_kit.safe_errors import describe_error

_log = structlog.stdlib.get_logger(__name__)

ExceptionHandler = Callable[[Request, Exception], Awaitable[JSONResponse]]


class ApiError(HTTPException):
    """An HTTPException carrying its own machine-readable `error` code."""

    def __init__(
        self,
        status_code: int,
        error: str,
        detail: str,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(status_code, detail, headers)
        self.error = error
        self.extra = dict(extra or {})  # machine-readable context, e.g. the matching ids


def outside_centres(field: str) -> ApiError:
    """A 403 for a write into a reception centre the caller does not work at."""
    return ApiError(
        403,
        "outside_your_centres",
        f"{field}: your token does not give you this reception centre",
        extra={"field": field},
    )


def invalid_fields(*problems: tuple[str, str]) -> ApiError:
    """A 422 shaped like FastAPI's validation errors, for rules checked after parsing:
    ``problems`` are (field, message) pairs, the field as a dotted path (``body.arrival_date``)."""
    return ApiError(
        422,
        "validation_error",
        "; ".join(f"{field}: {message}" for field, message in problems),
        extra={
            "errors": [
                {"field": field, "message": message, "type": "value_error"}
                for field, message in problems
            ]
        },
    )


def error_response(
    status_code: int,
    detail: str,
    *,
    error: str | None = None,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> JSONResponse:
    return problem_response(status_code, detail, code=error, headers=headers, extra=extra)


class ClientLeftError(Exception):
    """The client closed its connection before the answer was ready (http_limits)."""


# Long enough for a burst of load or a busy pool to pass, short enough for a person waiting.
RETRY_AFTER_SECONDS = 5


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(HTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    # Postgres cancelled a statement at its statement_timeout (or an operator cancelled it),
    # or asyncpg gave up waiting for the server or for a pooled connection (retour_kit.db).
    for timed_out in (asyncpg.QueryCanceledError, TimeoutError):
        app.add_exception_handler(timed_out, _time_limit_reached)
    app.add_exception_handler(ClientLeftError, _client_left)
    app.add_exception_handler(InvalidCursor, _invalid_cursor)
    # The database (or another dependency) went away: connection lost or refused, a server
    # restarting. Nothing the client did wrong, and a retry may well succeed. Anything else
    # unexpected stays a 500.
    for unavailable in _UNAVAILABLE:
        app.add_exception_handler(unavailable, _dependency_unavailable)


_UNAVAILABLE: tuple[type[Exception], ...] = (
    asyncpg.PostgresConnectionError,  # class 08: connection lost, refused, never established
    asyncpg.CannotConnectNowError,  # the server is starting up or recovering
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.InsufficientResourcesError,  # too many connections, disk full, out of memory
    ConnectionError,  # refused or reset at the socket
)


def _try_again_later(event: str, error: str, detail: str) -> ExceptionHandler:
    """A handler answering 503 with Retry-After, and logging the route and the error's
    description (never the statement or its parameters: they may hold personal data)."""

    async def handle(request: Request, exc: Exception) -> JSONResponse:
        route = getattr(request.scope.get("route"), "path", None)
        _log.warning(event, method=request.method, route=route, error=describe_error(exc))
        return error_response(
            503, detail, error=error, headers={"Retry-After": str(RETRY_AFTER_SECONDS)}
        )

    return handle


_dependency_unavailable = _try_again_later(
    "request failed, a dependency is unavailable",
    "dependency_unavailable",
    "a service this request needs is unavailable; try again later",
)
_time_limit_reached = _try_again_later(
    "request stopped at a time limit",
    "time_limit_reached",
    "the request took longer than its time limit and was stopped; try again later",
)


async def _invalid_cursor(_: Request, exc: Exception) -> JSONResponse:
    return error_response(422, str(exc), error="invalid_cursor")


async def _client_left(request: Request, _: Exception) -> JSONResponse:
    _log.info("client left before the answer, its work was cancelled", method=request.method)
    return error_response(499, "the client closed the connection before the answer was ready")


async def _http_error(_: Request, exc: HTTPException) -> JSONResponse:
    return error_response(
        exc.status_code,
        exc.detail,
        error=getattr(exc, "error", None),
        headers=exc.headers,
        extra=getattr(exc, "extra", None),
    )


async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
    problems = exc.errors()
    if any(problem["type"] == "json_invalid" for problem in problems):
        return error_response(400, "request body is not valid JSON", error="malformed_json")
    fields = [
        {
            "field": ".".join(str(part) for part in problem["loc"]),
            "message": problem["msg"],
            "type": problem["type"],
        }
        for problem in problems
    ]
    detail = fields_detail([field["field"] for field in fields])
    return error_response(422, detail, error="validation_error", extra={"errors": fields})


class UnhandledErrorMiddleware:
    """Turns an unexpected exception into a bare 500 JSON body and logs the traceback.

    Handled here rather than by Starlette's server-error handler, which re-raises
    after answering and so gets every failure logged twice.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        response_started = False

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            response_started = response_started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            _log.exception("unhandled error while serving request", method=scope["method"])
            if response_started:
                raise
            answer = error_response(500, "an unexpected error occurred")
            await answer(scope, receive, send)
