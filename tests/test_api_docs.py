"""Each service's /docs (Swagger UI) and /redoc render in headless Chromium with every request
to another origin refused, as at a reception centre without internet: the pages list every
operation of the service's document, and load nothing from anywhere but the service.

The services run without their lifespan: the pages and the document need no database.
Chromium comes from `deploy/local/chromium.sh` (apt); Playwright never downloads a browser.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest
import uvicorn
from playwright.async_api import Browser, Page, async_playwright
from retour_test_browser import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    free_port,
    refuse_other_origins,
)

from retour_test_infra import Infra, eventually

pytestmark = pytest.mark.integration

SERVICES = ("intake", "reintegration", "notifications", "reporting")


@dataclass
class Served:
    url: str
    document: dict[str, Any]
    foreign_requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def operations(self) -> int:
        return sum(
            method in {"get", "post", "put", "patch", "delete"}
            for methods in self.document["paths"].values()
            for method in methods
        )

    async def page(self, browser: Browser) -> Page:
        page = await browser.new_page(viewport={"width": 1400, "height": 1000})
        await refuse_other_origins(page, urlsplit(self.url).netloc, self.foreign_requests)
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        return page


def service_settings(service: str, infra: Infra, port: int) -> Any:
    settings_cls = importlib.import_module(f"retour_{service}.settings").Settings
    return settings_cls(
        database_url=infra.dsn(service),
        auth_jwt_secret=infra.jwt_secret,
        master_key=infra.master_key,  # read by intake only
        kafka_bootstrap_servers=infra.kafka_bootstrap,
        log_level="WARNING",
        http_port=port,
    )


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail("Chromium is missing: run deploy/local/chromium.sh (as root)", pytrace=False)
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        yield launched
        await launched.close()


@pytest.fixture(params=SERVICES)
async def served(request: pytest.FixtureRequest, infra: Infra) -> AsyncIterator[Served]:
    service = request.param
    port = free_port()
    app = importlib.import_module(f"retour_{service}.main").build_app(
        service_settings(service, infra, port)
    )
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, lifespan="off", log_config=None, access_log=False
        )
    )
    serving = asyncio.create_task(server.serve())
    try:

        async def started() -> bool:
            return server.started

        await eventually(started, until=bool, within=30, what=f"{service} serving")
        yield Served(f"http://127.0.0.1:{port}", app.openapi())
    finally:
        server.should_exit = True
        await serving


async def test_swagger_ui_lists_every_operation_with_no_other_origin(
    served: Served, browser: Browser
) -> None:
    page = await served.page(browser)
    await page.goto(f"{served.url}/docs")

    operations = page.locator(".opblock")
    await operations.first.wait_for(timeout=30_000)
    shown = await operations.count()
    ARTIFACTS.mkdir(exist_ok=True)
    title = served.document["info"]["title"].replace(" ", "-")
    await page.screenshot(path=str(ARTIFACTS / f"docs-{title}.png"))

    assert shown == served.operations
    assert served.foreign_requests == []
    assert served.errors == []


async def test_redoc_lists_every_operation_with_no_other_origin(
    served: Served, browser: Browser
) -> None:
    page = await served.page(browser)
    await page.goto(f"{served.url}/redoc")

    operations = page.locator("[data-section-id^='operation/']")
    await operations.first.wait_for(state="attached", timeout=30_000)
    shown = await operations.count()

    assert shown == served.operations
    assert served.foreign_requests == []
    assert served.errors == []
