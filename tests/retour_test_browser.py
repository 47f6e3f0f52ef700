"""Headless Chromium for the tests that drive retour's pages (the dashboard, the offline form,
the API documentation): Debian's Chromium (deploy/local/chromium.sh), never a browser that
Playwright downloads, and pages that may reach their own service and nothing else."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import urlsplit

from playwright.async_api import BrowserContext, Page, Route

CHROMIUM = Path(os.environ.get("RETOUR_CHROMIUM", "/usr/bin/chromium"))  # chromium.sh's too
# Without the background-networking flags Chromium keeps calling Google's hosts, which the
# machines refuse: nothing but the page under test may make requests.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def refuse_other_origins(
    target: Page | BrowserContext, origin: str, refused: list[str] | None = None
) -> None:
    """Lets ``target`` reach ``origin`` (host:port) alone, as at a reception centre without
    internet: any other request is aborted, and its URL added to ``refused``."""

    async def only_this_origin(route: Route) -> None:
        if urlsplit(route.request.url).netloc == origin:
            await route.continue_()
            return
        if refused is not None:
            refused.append(route.request.url)
        await route.abort()

    await target.route("**/*", only_this_origin)
