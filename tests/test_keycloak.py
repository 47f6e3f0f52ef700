"""Issue 18: the local stack's Keycloak (deploy/local/keycloak.sh, realm
deploy/keycloak/retour-realm.json) is the identity provider the running services trust.

- A machine account's token (client credentials) reaches what its role allows: the example
  partner's key lookups are answered, the reporting service's are refused (403).
- The realm's signing keys rotate (a new key provider, through Keycloak's admin API): tokens
  signed with the new key are accepted within seconds, with no restart (the services fetch the
  JWKS again for a key id they do not know, at most every JWKS_REFETCH_SECONDS).
- Headless Chromium signs in to reporting's dashboard through Keycloak's login page as the
  demo analyst (authorization code with PKCE), sees the French dashboard, and downloads a CSV.
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.async_api import Route, async_playwright
from retour_test_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS
from test_end_to_end import running_services

from retour_kit.auth import JWKS_REFETCH_SECONDS
from retour_test_infra import Infra, eventually

pytestmark = pytest.mark.integration


def realm_of(infra: Infra) -> str:
    if infra.keycloak_realm_url is None:
        pytest.fail("KEYCLOAK_REALM_URL is not set: run `make up` without RETOUR_KEYCLOAK=off")
    return infra.keycloak_realm_url


def claims_of(token: str) -> dict[str, Any]:
    """The token's payload, unverified: what the test looks at, the services verify."""
    payload = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return decoded


async def machine_token(http: httpx.AsyncClient, realm: str, client: str, secret: str) -> str:
    answer = await http.post(
        f"{realm}/protocol/openid-connect/token",
        data={"grant_type": "client_credentials", "client_id": client, "client_secret": secret},
    )
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["access_token"]
    return token


async def test_the_services_trust_keycloaks_tokens_for_what_their_roles_allow(
    infra: Infra,
) -> None:
    realm = realm_of(infra)
    secrets = infra.keycloak_secrets
    async with httpx.AsyncClient(timeout=30) as http:
        partner = await machine_token(
            http, realm, "retour-partner-example", secrets["RETOUR_KEYCLOAK_PARTNER_SECRET"]
        )
        reporting = await machine_token(
            http, realm, "retour-reporting", secrets["RETOUR_KEYCLOAK_REPORTING_SECRET"]
        )
        as_partner = await look_up_keys(http, partner)
        as_reporting = await look_up_keys(http, reporting)

    claims = claims_of(partner)
    assert claims["iss"] == realm
    assert "retour-api" in ([claims["aud"]] if isinstance(claims["aud"], str) else claims["aud"])
    assert "partner" in claims["realm_access"]["roles"]
    assert as_partner.status_code == 200, as_partner.text
    (refused,) = as_partner.json()["refused"]
    assert refused["reason"] == "not_available"  # nobody with that id: said as for any other
    assert as_reporting.status_code == 403  # a real token, a role without personal data


async def look_up_keys(http: httpx.AsyncClient, token: str) -> httpx.Response:
    return await http.post(
        f"{running_services().intake}/data-keys",
        json={"returnee_ids": [str(uuid.uuid4())]},
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": str(uuid.uuid4())},
    )


def key_id(token: str) -> str:
    header = token.split(".")[0]
    kid: str = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"]
    return kid


async def test_a_rotated_signing_key_is_trusted_without_a_restart(infra: Infra) -> None:
    realm = realm_of(infra)
    server = realm.rsplit("/realms/", 1)[0]
    secrets = infra.keycloak_secrets
    async with httpx.AsyncClient(timeout=30) as http:
        admin = await http.post(
            f"{server}/realms/master/protocol/openid-connect/token",
            data={
                "grant_type": "password",
                "client_id": "admin-cli",
                "username": "admin",
                "password": secrets["KC_BOOTSTRAP_ADMIN_PASSWORD"],
            },
        )
        assert admin.status_code == 200, admin.text
        as_admin = {"Authorization": f"Bearer {admin.json()['access_token']}"}
        realm_id = (await http.get(f"{server}/admin/realms/retour", headers=as_admin)).json()["id"]
        partner_secret = secrets["RETOUR_KEYCLOAK_PARTNER_SECRET"]
        before = await machine_token(http, realm, "retour-partner-example", partner_secret)
        assert (await look_up_keys(http, before)).status_code == 200

        # A new RSA key of a higher priority than any the realm has: Keycloak signs with it
        # from now on.
        providers = await http.get(
            f"{server}/admin/realms/retour/components",
            params={"type": "org.keycloak.keys.KeyProvider"},
            headers=as_admin,
        )
        highest = max(int(c["config"].get("priority", ["0"])[0]) for c in providers.json())
        created = await http.post(
            f"{server}/admin/realms/retour/components",
            headers=as_admin,
            json={
                "name": f"rotated-{uuid.uuid4().hex[:8]}",
                "providerId": "rsa-generated",
                "providerType": "org.keycloak.keys.KeyProvider",
                "parentId": realm_id,
                "config": {
                    "priority": [str(highest + 100)],
                    "keySize": ["2048"],
                    "algorithm": ["RS256"],
                },
            },
        )
        assert created.status_code == 201, created.text
        component = created.headers["location"]
        try:
            after = await machine_token(http, realm, "retour-partner-example", partner_secret)
            # A service fetches the key set again for an unknown key id, at most every
            # JWKS_REFETCH_SECONDS: the new key is trusted within that, with no restart.
            accepted = await eventually(
                lambda: look_up_keys(http, after),
                until=lambda answer: answer.status_code != 401,
                within=3 * JWKS_REFETCH_SECONDS,
                every=0.5,
                what="intake trusts the rotated key",
            )
        finally:
            # The realm as it was: the new key removed, the realm's own signs again.
            removed = await http.delete(component, headers=as_admin)
        assert removed.status_code == 204

    assert key_id(after) != key_id(before)
    assert accepted.status_code == 200, accepted.text


async def test_an_analyst_signs_in_to_the_dashboard_through_keycloak(infra: Infra) -> None:
    realm = realm_of(infra)
    if not CHROMIUM.exists():
        pytest.fail("Chromium is missing: run deploy/local/chromium.sh (as root)", pytrace=False)
    dashboard = f"{running_services().reporting}/"
    refused: list[str] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        context = await browser.new_context(locale="fr-FR", accept_downloads=True)
        page = await context.new_page()
        # The dashboard's origin and the identity provider's: nothing else, as at a centre
        # whose network reaches these two servers only.
        allowed = {urlsplit(dashboard).netloc, urlsplit(realm).netloc}

        async def these_two_only(route: Route) -> None:
            if urlsplit(route.request.url).netloc in allowed:
                await route.continue_()
            else:
                refused.append(route.request.url)
                await route.abort()

        await context.route("**/*", these_two_only)
        await page.goto(dashboard)
        await page.click("#oidc-sign-in")
        await page.wait_for_url(f"{realm}/protocol/openid-connect/auth*")
        await page.fill("#username", "analyst")
        await page.fill("#password", infra.keycloak_secrets["RETOUR_KEYCLOAK_DEMO_PASSWORD"])
        await page.click("#kc-login")
        await page.wait_for_selector("body[data-ready='true']", timeout=30_000)
        address = page.url
        caption = await page.locator("figure:has(#chart-aid) figcaption").inner_text()
        token: str = await page.evaluate("sessionStorage.getItem('retour.reporting.token')")
        async with page.expect_download() as started:
            await page.click("figure:has(#chart-aid) button.csv")
        download = await started.value
        saved = await asyncio.to_thread(Path(await download.path()).read_bytes)
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "dashboard-keycloak.png"), full_page=True)
        await browser.close()

    assert address == dashboard  # the code and state left the address bar
    assert caption == "Aides accordées, par catégorie"
    claims = claims_of(token)
    assert claims["iss"] == realm
    assert "analyst" in claims["realm_access"]["roles"]
    assert download.suggested_filename.startswith("aid_")
    assert saved.splitlines()[0].startswith(b"breakdown,")
    assert refused == []
