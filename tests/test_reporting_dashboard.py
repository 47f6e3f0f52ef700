"""The dashboard at / in headless Chromium (Debian's, driven by Playwright): it signs in with
an analyst token, draws its charts from the service's own reports (registrations, aid and
activities, the case reports: plans, visits, referrals, scores, closures, and the expected
arrivals of each wave), hides small cells,
and fetches nothing from anywhere else. It speaks French unless asked for English, shows labels
rather than codes, downloads each panel's CSV (from the keyboard too), and passes axe-core's
WCAG 2.1 A and AA rules. Screenshots are kept under test-artifacts/.

Chromium comes from `deploy/local/chromium.sh` (apt); Playwright never downloads a browser.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import httpx
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
from test_reporting_case_lifecycle import case_of
from test_reporting_expected_arrivals import waves
from test_reporting_history import seeded_history
from test_reporting_sandbox import inbox_count, reporting_sandbox

from retour_kit.auth import issue_dev_token
from retour_reporting.main import build_app
from retour_test_infra import Infra, eventually

pytestmark = pytest.mark.integration

AXE = Path(__file__).resolve().parent.parent / "tools" / "a11y" / "node_modules" / "axe-core"
FRENCH_CATEGORIES = {
    "Hébergement",
    "Alimentation",
    "Soins médicaux",
    "Espèces",
    "Transport",
    "Soutien psychosocial",
    "Formation professionnelle",
    "Subvention de création d'entreprise",
    "Kit en nature",
    "Éducation",
    "Logement",
}

CHARTS = ("chart-monthly", "chart-72h", "chart-aid", "chart-activities")
CASE_CHARTS = (
    "chart-expected",
    "chart-plans",
    "chart-follow-ups",
    "chart-referrals",
    "chart-scores",
    "chart-closures",
)


@dataclass
class Dashboard:
    url: str
    analyst: str
    case_worker: str
    browser: Browser
    foreign_requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    async def page(self, *, locale: str = "en-US", bypass_csp: bool = False) -> Page:
        """A page whose browser prefers ``locale``; ``bypass_csp`` lets a test inject axe."""
        page = await self.browser.new_page(
            viewport={"width": 1400, "height": 1000},
            locale=locale,
            bypass_csp=bypass_csp,
            accept_downloads=True,
        )
        await refuse_other_origins(page, urlsplit(self.url).netloc, self.foreign_requests)
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on(
            "console",
            lambda message: self.errors.append(message.text) if message.type == "error" else None,
        )
        return page


@pytest.fixture(scope="module")
async def dashboard(infra: Infra) -> AsyncIterator[Dashboard]:
    if not CHROMIUM.exists():
        pytest.fail("Chromium is missing: run deploy/local/chromium.sh (as root)", pytrace=False)
    async with reporting_sandbox(infra) as sandbox:
        history = seeded_history(500, seed=11)
        rng, today = random.Random(12), datetime.now(UTC).date()
        cases = [timed for p in history.registrations for timed in case_of(rng, p, today)]
        records = sandbox.records(history.events())
        records += sandbox.records([e for e, _ in cases], times=[at for _, at in cases])
        plan = waves()  # two manifests, their arrivals and closures
        records += sandbox.records([*plan.registrations, *plan.others, *plan.announcements])
        random.Random(1).shuffle(records)
        await sandbox.produce(records)
        port = free_port()
        app = build_app(sandbox.settings(log_level="WARNING", http_port=port))
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
        )
        serving = asyncio.create_task(server.serve())
        try:

            async def applied() -> int | None:
                return await inbox_count(sandbox) if server.started else None

            await eventually(
                applied,
                until=lambda rows: rows == len(records),
                what=f"the server started and {len(records)} events in the inbox",
            )
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(
                    executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
                )
                yield Dashboard(
                    url=f"http://127.0.0.1:{port}/",
                    analyst=issue_dev_token(infra.jwt_secret, "analyst"),
                    case_worker=issue_dev_token(infra.jwt_secret, "case_worker"),
                    browser=browser,
                )
                await browser.close()
        finally:
            server.should_exit = True
            await serving


async def drawn_bars(page: Page, chart: str) -> int:
    count = await page.evaluate(
        """(id) => [...document.querySelectorAll(`#${id} svg rect.bar`)]
             .filter((r) => r.getBBox().width > 0 && r.getBBox().height > 0).length""",
        chart,
    )
    return int(count)


async def test_the_dashboard_draws_its_charts(dashboard: Dashboard) -> None:
    page = await dashboard.page()
    await page.goto(f"{dashboard.url}#token={dashboard.analyst}")
    await page.wait_for_selector("body[data-ready='true']", timeout=15_000)
    bars = {chart: await drawn_bars(page, chart) for chart in (*CHARTS, *CASE_CHARTS)}
    tiles = await page.locator("#kpis .tile").count()
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "reporting-dashboard.png"
    await page.screenshot(path=str(screenshot), full_page=True)
    address = page.url
    await page.close()

    assert bars["chart-monthly"] >= 7 * 3  # seven months of arrivals, several centres each
    assert bars["chart-72h"] >= 2  # all centres, then each centre
    assert bars["chart-aid"] >= 4
    assert bars["chart-activities"] >= 2
    assert bars["chart-plans"] >= 2  # all centres, then each centre
    assert bars["chart-follow-ups"] == 3  # at 3, 6 and 12 months
    assert bars["chart-referrals"] >= 6 * 2  # six partners, several statuses each
    assert bars["chart-scores"] >= 4 * 4  # the baseline and three visits, four dimensions each
    assert bars["chart-closures"] >= 4
    assert bars["chart-expected"] >= 2  # one bar per wave and centre
    assert tiles == 7
    assert "token" not in address, "the token must leave the address bar"
    assert screenshot.stat().st_size > 20_000
    assert dashboard.foreign_requests == []
    assert dashboard.errors == []


async def test_small_cells_are_drawn_hatched_and_labelled_not_counted(dashboard: Dashboard) -> None:
    page = await dashboard.page()
    await page.goto(f"{dashboard.url}#token={dashboard.analyst}")
    await page.wait_for_selector("body[data-ready='true']")
    await page.evaluate("document.body.dataset.ready = 'false'")
    await page.select_option("select[name=centre]", "tombouctou")
    await page.click("form#filters button[type=submit]")
    await page.wait_for_selector("body[data-ready='true']")
    small = await page.locator(".chart rect.bar.small").count()
    case_small = await page.locator("#chart-scores rect.bar.small").count()
    labels = await page.locator(".chart text", has_text="<5").count()
    await page.screenshot(
        path=str(ARTIFACTS / "reporting-dashboard-tombouctou.png"), full_page=True
    )
    await page.close()

    assert small > 0
    assert labels > 0
    assert case_small > 0  # a mean of fewer than 5 people: hatched, no value


async def test_without_a_token_the_page_asks_for_one_then_uses_it(dashboard: Dashboard) -> None:
    page = await dashboard.page()
    await page.goto(dashboard.url)
    await page.wait_for_selector("#sign-in:not([hidden])")
    board_hidden = await page.locator("#board").is_hidden()
    await page.fill("#token", dashboard.analyst)
    await page.click("#token-form button[type=submit]")
    await page.wait_for_selector("body[data-ready='true']")
    bars = await drawn_bars(page, "chart-aid")
    await page.close()

    assert board_hidden
    assert bars > 0


async def test_a_token_without_the_analyst_role_is_refused(dashboard: Dashboard) -> None:
    page = await dashboard.page()
    await page.goto(f"{dashboard.url}#token={dashboard.case_worker}")
    await page.wait_for_selector("#sign-in:not([hidden])")
    status = await page.locator("#status").inner_text()
    await page.close()

    assert "analyst" in status


async def test_the_page_forbids_scripts_from_anywhere_else(dashboard: Dashboard) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.get(dashboard.url)

    assert response.status_code == 200
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "default-src 'none'" in policy
    assert '<script src="/dashboard.js"' in response.text


async def ready(page: Page) -> None:
    await page.wait_for_selector("body[data-ready='true']", timeout=15_000)


async def caption_of(page: Page, chart: str) -> str:
    return await page.locator(f"figure:has(#{chart}) figcaption").inner_text()


async def test_the_dashboard_speaks_french_with_labels_not_codes(dashboard: Dashboard) -> None:
    page = await dashboard.page(locale="fr-FR")
    await page.goto(f"{dashboard.url}#token={dashboard.analyst}")
    await ready(page)
    language = await page.evaluate("document.documentElement.lang")
    caption = await caption_of(page, "chart-aid")
    texts: list[str] = await page.evaluate(
        "[...document.querySelectorAll('.chart text, .chart title, .tile .label')]"
        ".map((node) => node.textContent)"
    )
    status = await page.locator("#status").inner_text()
    await page.screenshot(path=str(ARTIFACTS / "reporting-dashboard-fr.png"), full_page=True)
    await page.close()

    assert language == "fr"
    assert caption == "Aides accordées, par catégorie"
    assert status.startswith("Mis à jour le")
    assert [text for text in texts if "_" in text] == []  # no code such as in_kind_kit
    assert FRENCH_CATEGORIES & set(texts)
    assert {"Bamako", "Kayes"} <= set(texts)  # the centres' legend, as names
    assert "Personnes arrivées" in texts


async def test_english_on_request_and_the_choice_is_kept(dashboard: Dashboard) -> None:
    page = await dashboard.page(locale="en-US")
    await page.goto(f"{dashboard.url}#token={dashboard.analyst}")
    await ready(page)
    english = await caption_of(page, "chart-aid")
    await page.evaluate("document.body.dataset.ready = 'false'")
    await page.select_option("#language", "fr")
    await ready(page)
    switched = await caption_of(page, "chart-aid")
    await page.reload()
    await ready(page)
    kept = await caption_of(page, "chart-aid")
    await page.close()

    assert english == "Aid granted, by category"
    assert switched == kept == "Aides accordées, par catégorie"


async def test_each_panel_downloads_its_report_as_csv(dashboard: Dashboard) -> None:
    page = await dashboard.page(locale="fr-FR")
    await page.goto(f"{dashboard.url}#token={dashboard.analyst}")
    await ready(page)
    buttons = await page.locator("figure button.csv").count()
    async with page.expect_download() as started:
        # From the keyboard: focus the aid panel's button, press Enter.
        await page.locator("figure:has(#chart-aid) button.csv").focus()
        await page.keyboard.press("Enter")
    download = await started.value
    saved = await asyncio.to_thread(Path(await download.path()).read_bytes)
    status = await page.locator("#status").inner_text()
    name = await page.locator("figure:has(#chart-aid) button.csv").get_attribute("aria-label")
    await page.close()
    async with httpx.AsyncClient() as http:
        direct = await http.get(
            f"{dashboard.url}reports/aid.csv",
            headers={"Authorization": f"Bearer {dashboard.analyst}"},
        )

    assert buttons == 10  # one per panel
    assert download.suggested_filename.startswith("aid_")
    assert download.suggested_filename.endswith(".csv")
    assert saved == direct.content
    assert b"suppressed" in direct.content.splitlines()[0]  # the API's CSV, header first
    assert download.suggested_filename in status
    assert name == "Télécharger (CSV) : Aides accordées, par catégorie"  # the visible text first


async def violations(page: Page) -> list[str]:
    """axe-core's WCAG 2.1 A and AA rules over the page as it is now."""
    await page.add_script_tag(path=str(AXE / "axe.min.js"))
    found: list[str] = await page.evaluate(
        """async () => {
             const tags = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"];
             const result = await axe.run(document, { runOnly: { type: "tag", values: tags } });
             return result.violations.map(
               (v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
           }"""
    )
    return found


async def test_the_dashboard_and_its_sign_in_pass_axe(dashboard: Dashboard) -> None:
    if not (AXE / "axe.min.js").exists():
        pytest.fail("axe-core is missing: run make setup (tools/npm-ci.sh tools/a11y)")
    page = await dashboard.page(locale="fr-FR", bypass_csp=True)
    await page.goto(dashboard.url)
    await page.wait_for_selector("#sign-in:not([hidden])")
    at_sign_in = await violations(page)
    # Only the fragment changes: a same-document navigation, so the page is loaded again.
    await page.goto(f"{dashboard.url}#token={dashboard.analyst}")
    await page.reload()
    await ready(page)
    on_the_board = await violations(page)
    await page.close()

    assert at_sign_in == []
    assert on_the_board == []
