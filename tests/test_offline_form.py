"""The offline registration form at intake's /form/ in headless Chromium (Debian's, driven by
Playwright), against the real stack: a device signs in once with the credentials a supervisor
issued, the registration is filled and sent while the network is cut, waits in the laptop's
queue (IndexedDB) with a visible count, survives a reload without a network (the service
worker), and is delivered once the network returns: exactly one registration results, and
nothing is fetched from any other origin. A screenshot is kept under test-artifacts/.

The bundle is web/build.sh's (run by `make setup`); Chromium comes from
`deploy/local/chromium.sh` (apt); Playwright never downloads a browser.
"""

from __future__ import annotations

import asyncio
import random
import re
import string
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import uvicorn
from playwright.async_api import (
    BrowserContext,
    Locator,
    Page,
    Request,
    async_playwright,
)
from retour_test_browser import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    free_port,
    refuse_other_origins,
)

from retour_intake.entrypoints.web_form import FORM_ROOT
from retour_intake.main import build_app
from retour_intake.settings import Settings
from retour_kit.auth import issue_dev_token
from retour_test_infra import FRESH_IDEMPOTENCY_KEYS, Infra, eventually

pytestmark = pytest.mark.integration

CENTRE = "kayes"


@dataclass
class Browsing:
    """One browser profile (its own IndexedDB, service worker and offline switch), recording
    every request it makes: the page's and its service worker's."""

    context: BrowserContext
    origin: str
    foreign_requests: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    """Uncaught errors of the page (failed requests while offline are expected, not these)."""

    async def page(self) -> Page:
        page = await self.context.new_page()
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))
        return page

    def saw(self, request: Request) -> None:
        if urlsplit(request.url).netloc != self.origin:
            self.foreign_requests.append(request.url)


@dataclass(frozen=True)
class Intake:
    url: str
    http: httpx.AsyncClient
    supervisor: str
    registrar: str


def unique_name() -> str:
    # Tests share one database: the person must be new to duplicate detection.
    return "".join(random.choices(string.ascii_lowercase, k=12)).capitalize()


@pytest.fixture(scope="module")
async def intake(infra: Infra) -> AsyncIterator[Intake]:
    if not CHROMIUM.exists():
        pytest.fail("Chromium is missing: run deploy/local/chromium.sh (as root)", pytrace=False)
    if not (FORM_ROOT / "index.html").exists():
        pytest.fail("the offline form is not built: run web/build.sh", pytrace=False)
    port = free_port()
    settings = Settings(
        database_url=infra.dsn("intake"),
        auth_jwt_secret=infra.jwt_secret,
        master_key=infra.master_key,
        kafka_bootstrap_servers=infra.kafka_bootstrap,
        http_port=port,
        log_level="WARNING",
    )
    server = uvicorn.Server(
        uvicorn.Config(
            build_app(settings), host="127.0.0.1", port=port, log_config=None, access_log=False
        )
    )
    serving = asyncio.create_task(server.serve())
    url = f"http://127.0.0.1:{port}"
    try:
        await eventually(lambda: server.started, what="the intake server started")
        # The client forgets idle connections sooner than uvicorn closes them (5 s): a request
        # sent on a connection the server is closing at that instant fails with ReadError,
        # and the browser steps of a test easily leave the client idle that long.
        async with httpx.AsyncClient(
            base_url=url,
            event_hooks=FRESH_IDEMPOTENCY_KEYS,
            limits=httpx.Limits(keepalive_expiry=1.0),
        ) as http:
            yield Intake(
                url=url,
                http=http,
                supervisor=issue_dev_token(
                    infra.jwt_secret, "supervisor", subject="supervisor.offline-form"
                ),
                registrar=issue_dev_token(
                    infra.jwt_secret, "registrar", subject="registrar.reader", centres=[CENTRE]
                ),
            )
    finally:
        server.should_exit = True
        await serving


@pytest.fixture
async def browsing(intake: Intake) -> AsyncIterator[Browsing]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        context = await browser.new_context(viewport={"width": 1200, "height": 1000})
        browsing = Browsing(context=context, origin=urlsplit(intake.url).netloc)
        # Every request is recorded (the service worker's too); other origins are refused.
        context.on("request", browsing.saw)
        await refuse_other_origins(context, browsing.origin)
        yield browsing
        await context.close()
        await browser.close()


async def device_credentials(intake: Intake) -> dict[str, Any]:
    response = await intake.http.post(
        "/openrosa/devices",
        json={
            "registrar": f"registrar.laptop-{uuid.uuid4().hex[:8]}",
            "centres": [CENTRE],
            "label": "Kayes laptop (offline form test)",
        },
        headers={"Authorization": f"Bearer {intake.supervisor}"},
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def signed_in_page(browsing: Browsing, intake: Intake, device: dict[str, Any]) -> Page:
    page = await browsing.page()
    await page.goto(f"{intake.url}/form/")
    await page.fill("#username", device["username"])
    await page.fill("#password", device["password"])
    await page.click("#sign-in button[type=submit]")
    await page.wait_for_selector(".question-container")
    return page


async def registrations_named(intake: Intake, family_name: str) -> list[dict[str, Any]]:
    response = await intake.http.get(
        "/returnees/search",
        params={"q": family_name},
        headers={"Authorization": f"Bearer {intake.registrar}"},
    )
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    return [i["returnee"] for i in items if i["returnee"]["personal"]["family_name"] == family_name]


async def test_a_registration_made_offline_is_queued_then_delivered_once(
    intake: Intake, browsing: Browsing
) -> None:
    device = await device_credentials(intake)
    page = await signed_in_page(browsing, intake, device)
    await page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    family = unique_name()
    await fill_registration(page, family_name=family, centre=CENTRE)

    await browsing.context.set_offline(True)
    await page.wait_for_selector("#network[data-online='false']")
    await page.click("button[aria-label=Send]")
    await page.wait_for_selector("#waiting[data-count='1']")
    waiting_text = await page.locator("#waiting").inner_text()

    # Reloaded without a network: the page comes from the service worker, the form from the
    # copy kept in IndexedDB, the credentials from this browser; the queue is still there.
    await page.reload()
    await page.wait_for_selector(".question-container")
    await page.wait_for_selector("#waiting[data-count='1']")
    controlled = await page.evaluate("navigator.serviceWorker.controller !== null")
    form_note = await page.locator("#form-note").inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "offline-form-queued.png"
    await page.screenshot(path=str(screenshot))
    before_delivery = await registrations_named(intake, family)

    await browsing.context.set_offline(False)
    await page.wait_for_selector("#waiting[data-count='0']", timeout=60_000)
    delivered = await eventually(
        lambda: registrations_named(intake, family), what=f"the registration of {family}"
    )
    rejected = await page.locator("#rejected").count()
    await page.close()

    assert waiting_text == "1 en attente d\u2019envoi / 1 waiting to be sent"
    assert controlled, "the page reloaded offline must be served by the service worker"
    assert form_note.startswith("Hors ligne"), form_note
    assert before_delivery == []
    assert len(delivered) == 1
    assert delivered[0]["reception_centre"] == CENTRE
    assert delivered[0]["return_type"] == "emergency_evacuation"
    assert rejected == 0
    assert screenshot.stat().st_size > 10_000
    assert browsing.foreign_requests == []
    assert browsing.page_errors == []


async def test_a_registration_refused_by_intake_stays_visible_with_its_reason(
    intake: Intake, browsing: Browsing
) -> None:
    device = await device_credentials(intake)  # a Kayes device
    page = await signed_in_page(browsing, intake, device)
    family = unique_name()
    await fill_registration(page, family_name=family, centre="gao")

    await page.click("button[aria-label=Send]")
    await page.wait_for_selector("#rejected[data-count='1']")
    message = await page.locator("#rejected .message").inner_text()
    waiting = await page.locator("#waiting").get_attribute("data-count")
    await page.screenshot(path=str(ARTIFACTS / "offline-form-refused.png"))
    await page.close()

    assert "reception_centre" in message
    assert family not in message
    assert waiting == "0"
    assert await registrations_named(intake, family) == []


async def test_the_page_is_served_with_everything_from_this_origin(intake: Intake) -> None:
    page = await intake.http.get("/form/")
    worker = await intake.http.get("/form/sw.js")
    redirect = await intake.http.get("/form")
    outside = await intake.http.get("/form/%2E%2E/%2E%2E/main.py")
    stamp = await intake.http.get("/form/.build-inputs")
    built = [p for p in FORM_ROOT.rglob("*") if p.is_file()]
    texts = {p.name: p.read_text(errors="replace") for p in built}

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "script-src 'self' 'wasm-unsafe-eval';" in policy
    assert "http" not in policy
    assert worker.status_code == 200
    assert worker.headers["cache-control"] == "no-cache"
    assert redirect.status_code == 308
    assert redirect.headers["location"] == "/form/"
    assert outside.status_code == 404
    assert stamp.status_code == 404
    for name, text in texts.items():
        for foreign in ("fonts.googleapis", "fonts.gstatic", "unpkg.com", "jsdelivr", "cdnjs"):
            assert foreign not in text, f"{name} refers to {foreign}"
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", texts["index.html"])


def question(page: Page, label: str) -> Locator:
    return page.locator(".question-container").filter(
        has=page.locator(".control-text label", has_text=re.compile(f"^{re.escape(label)}$"))
    )


async def fill_registration(page: Page, *, family_name: str, centre: str) -> None:
    """Fills the form as a registrar would, by the questions' French labels."""
    await choose(page, "Centre d'accueil", centre)
    arrival = question(page, "Date d'arrivée").locator("input")
    # Yesterday (never in the future), typed as ODK Web Forms' date picker reads it by default.
    await arrival.fill((date.today() - timedelta(days=1)).strftime("%m/%d/%Y"))
    await arrival.press("Enter")
    await choose(page, "Type de retour", "emergency_evacuation")
    await question(page, "Pays d'accueil (code ISO à deux lettres)").locator("input").fill("CI")
    await choose(page, "Région d'origine", "kayes")
    await choose(page, "Sexe", "female")
    await question(page, "Taille du ménage").locator("input").press_sequentially("3")
    await choose(page, "Vulnérabilités", "medical_need")
    await choose(page, "La personne consent au traitement de ses données personnelles", "yes")
    await choose(page, "La personne accepte d'être contactée par SMS", "no")
    await choose(page, "La personne accepte le partage de ses données avec les partenaires", "no")
    await question(page, "Prénom").locator("input").fill(unique_name())
    await question(page, "Nom de famille").locator("input").fill(family_name)
    await choose(page, "La date de naissance est-elle connue ?", "no")
    await question(page, "Âge estimé (années)").locator("input").press_sequentially("34")


async def choose(page: Page, label: str, value: str) -> None:
    await question(page, label).locator(f"label.value-option:has(input[value='{value}'])").click()
