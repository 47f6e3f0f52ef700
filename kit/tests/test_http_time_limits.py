"""Requests stopped at a time limit, or by a lost database, answer 503; a client that
leaves cancels the work."""

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from fastapi import FastAPI, Request
from retour_test_apps import bare_service_app
from starlette.types import Message

from retour_kit.http_errors import ClientLeftError
from retour_kit.http_limits import unless_client_leaves


def build_app() -> FastAPI:
    app = bare_service_app()

    @app.get("/cancelled-by-postgres")
    async def cancelled() -> None:
        raise asyncpg.QueryCanceledError("canceling statement due to statement timeout")

    @app.get("/no-free-connection")
    async def busy() -> None:
        raise TimeoutError

    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=build_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        yield client


@pytest.mark.parametrize("path", ["/cancelled-by-postgres", "/no-free-connection"])
async def test_a_time_limit_answers_503_with_a_retry_after(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.get(path)

    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {
        "type": "/problems/time_limit_reached",
        "title": "Time limit reached",
        "status": 503,
        "detail": "the request took longer than its time limit and was stopped; try again later",
        "error": "time_limit_reached",
    }


def request_with(messages: list[Message]) -> Request:
    """A request whose connection delivers `messages`, then stays open."""
    queue: asyncio.Queue[Message] = asyncio.Queue()
    for message in messages:
        queue.put_nowait(message)
    return Request({"type": "http", "method": "GET", "headers": []}, receive=queue.get)


async def test_work_finishing_first_is_answered() -> None:
    request = request_with([{"type": "http.request", "body": b"", "more_body": False}])

    async def report() -> str:
        await asyncio.sleep(0.01)
        return "done"

    assert await unless_client_leaves(request, report()) == "done"


async def test_a_client_leaving_cancels_the_work() -> None:
    request = request_with(
        [{"type": "http.request", "body": b"", "more_body": False}, {"type": "http.disconnect"}]
    )
    cancelled = asyncio.Event()

    async def endless_report() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    with pytest.raises(ClientLeftError):
        async with asyncio.timeout(5):
            await unless_client_leaves(request, endless_report())
    assert cancelled.is_set()


async def test_a_lost_database_connection_answers_503() -> None:
    app = bare_service_app()

    @app.get("/cases")
    async def cases() -> None:
        raise asyncpg.ConnectionDoesNotExistError(
            "connection was closed in the middle of operation"
        )

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/cases")

    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert response.json()["error"] == "dependency_unavailable"


async def test_a_client_that_left_is_answered_499_and_its_work_cancelled() -> None:
    app = bare_service_app()
    cancelled = asyncio.Event()

    @app.get("/slow-report")
    async def slow_report(request: Request) -> None:
        async def report() -> None:
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                cancelled.set()
                raise

        await unless_client_leaves(request, report())

    sent: list[Message] = []
    incoming = iter([{"type": "http.request", "body": b"", "more_body": False}])

    async def receive() -> Message:
        message = next(incoming, None)
        if message is None:
            await asyncio.sleep(0.05)  # the client hangs up while the report runs
            return {"type": "http.disconnect"}
        return message

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "GET",
        "path": "/slow-report",
        "raw_path": b"/slow-report",
        "query_string": b"",
        "headers": [],
        "http_version": "1.1",
        "scheme": "http",
        "server": ("t", 80),
        "client": ("c", 1),
        "root_path": "",
    }
    async with asyncio.timeout(10):
        await app(scope, receive, send)

    assert cancelled.is_set()
    assert sent[0]["status"] == 499
