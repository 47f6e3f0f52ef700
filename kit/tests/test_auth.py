import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import Depends, FastAPI
from pydantic import SecretStr
from retour_test_apps import bare_service_app

from retour_contracts import ReceptionCentre
from retour_kit.auth import (
    REMEMBER_TOKENS_SECONDS,
    InvalidTokenError,
    Principal,
    Role,
    TokenVerifier,
    _VerifiedTokens,
    centres_from_claims,
    issue_dev_token,
    require_roles,
    roles_from_claims,
)

SECRET = "local-development-secret-32-chars!"
JWKS_URL = "https://idp.example/realms/retour/protocol/openid-connect/certs"


def app_with_protected_route(**auth: Any) -> FastAPI:
    app = bare_service_app(**auth)

    @app.post("/returnees")
    async def register(
        principal: Annotated[Principal, Depends(require_roles(Role.REGISTRAR, Role.SUPERVISOR))],
    ) -> dict[str, str]:
        return {"subject": principal.subject}

    return app


async def post(app: FastAPI, headers: dict[str, str] | None = None) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.post("/returnees", headers=headers)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class TestLocalHs256Tokens:
    async def test_accepts_a_token_carrying_a_required_role(self) -> None:
        app = app_with_protected_route(auth_jwt_secret=SECRET)
        token = issue_dev_token(SECRET, Role.REGISTRAR, subject="awa")

        response = await post(app, bearer(token))

        assert response.status_code == 200
        assert response.json() == {"subject": "awa"}

    async def test_missing_header_is_401_with_bearer_challenge(self) -> None:
        response = await post(app_with_protected_route(auth_jwt_secret=SECRET))

        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert response.json() == {
            "type": "/problems/unauthorized",
            "title": "Unauthorized",
            "status": 401,
            "detail": "missing bearer token",
            "error": "unauthorized",
        }

    async def test_expired_token_is_401(self) -> None:
        token = issue_dev_token(SECRET, Role.REGISTRAR, ttl=timedelta(seconds=-60))

        response = await post(app_with_protected_route(auth_jwt_secret=SECRET), bearer(token))

        assert response.status_code == 401
        assert response.json()["error"] == "unauthorized"
        assert "expired" in response.json()["detail"]

    async def test_token_signed_with_another_secret_is_401(self) -> None:
        token = issue_dev_token("another-secret-that-is-32-chars-long", Role.REGISTRAR)

        response = await post(app_with_protected_route(auth_jwt_secret=SECRET), bearer(token))

        assert response.status_code == 401

    async def test_wrong_role_is_403(self) -> None:
        token = issue_dev_token(SECRET, Role.ANALYST)

        response = await post(app_with_protected_route(auth_jwt_secret=SECRET), bearer(token))

        assert response.status_code == 403
        assert response.json() == {
            "type": "/problems/forbidden",
            "title": "Forbidden",
            "status": 403,
            "detail": "role registrar or supervisor required",
            "error": "forbidden",
        }

    async def test_audience_is_checked_when_configured(self) -> None:
        app = app_with_protected_route(auth_jwt_secret=SECRET, auth_audience="retour-api")
        wrong = issue_dev_token(SECRET, Role.REGISTRAR, audience="other-api")
        right = issue_dev_token(SECRET, Role.REGISTRAR, audience="retour-api")

        assert (await post(app, bearer(wrong))).status_code == 401
        assert (await post(app, bearer(right))).status_code == 200


class TestIdentityProviderRs256Tokens:
    @pytest.fixture
    def signing_key(self, monkeypatch: pytest.MonkeyPatch) -> rsa.RSAPrivateKey:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public_jwk = jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
        jwks = {"keys": [{**public_jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]}
        monkeypatch.setattr(jwt.PyJWKClient, "fetch_data", lambda _self: jwks)
        return key

    def keycloak_token(self, key: rsa.RSAPrivateKey, roles: list[str]) -> str:
        now = datetime.now(UTC)
        claims = {
            "sub": "f3c1-keycloak-user",
            "iss": "https://idp.example/realms/retour",
            "exp": now + timedelta(minutes=5),
            "realm_access": {"roles": ["offline_access", *roles]},
        }
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "k1"})

    async def test_accepts_realm_roles_from_a_jwks_signed_token(
        self, signing_key: rsa.RSAPrivateKey
    ) -> None:
        app = app_with_protected_route(
            auth_jwks_url=JWKS_URL, auth_issuer="https://idp.example/realms/retour"
        )

        response = await post(app, bearer(self.keycloak_token(signing_key, ["supervisor"])))

        assert response.status_code == 200
        assert response.json() == {"subject": "f3c1-keycloak-user"}

    async def test_rejects_an_hs256_token_when_a_jwks_is_configured(
        self, signing_key: rsa.RSAPrivateKey
    ) -> None:
        token = issue_dev_token(SECRET, Role.SUPERVISOR)

        response = await post(app_with_protected_route(auth_jwks_url=JWKS_URL), bearer(token))

        assert response.status_code == 401

    async def test_rejects_an_rs256_token_when_only_a_secret_is_configured(
        self, signing_key: rsa.RSAPrivateKey
    ) -> None:
        token = self.keycloak_token(signing_key, ["supervisor"])

        response = await post(app_with_protected_route(auth_jwt_secret=SECRET), bearer(token))

        assert response.status_code == 401

    async def test_with_both_sources_each_token_is_checked_with_its_own_key(
        self, signing_key: rsa.RSAPrivateKey
    ) -> None:
        # The local stack: Keycloak's tokens and `make token`'s side by side.
        app = app_with_protected_route(auth_jwt_secret=SECRET, auth_jwks_url=JWKS_URL)
        from_keycloak = self.keycloak_token(signing_key, ["supervisor"])
        from_make_token = issue_dev_token(SECRET, Role.SUPERVISOR)
        forged = issue_dev_token("another-secret-of-32-characters!!", Role.SUPERVISOR)

        assert (await post(app, bearer(from_keycloak))).status_code == 200
        assert (await post(app, bearer(from_make_token))).status_code == 200
        assert (await post(app, bearer(forged))).status_code == 401


def test_roles_come_from_both_claims_and_unknown_ones_are_ignored() -> None:
    claims = {"roles": ["analyst", "superuser"], "realm_access": {"roles": ["admin"]}}

    assert roles_from_claims(claims) == {Role.ANALYST, Role.ADMIN}


class TestCentresClaim:
    """Which reception centres a token reaches: need-to-know, failing closed."""

    def test_a_list_or_a_comma_separated_attribute_names_the_centres(self) -> None:
        as_list = {"centres": ["gao", "Kayes", "atlantis"]}
        as_text = {"centres": "gao, kayes"}

        gao_and_kayes = frozenset({ReceptionCentre.GAO, ReceptionCentre.KAYES})
        assert centres_from_claims(as_list, frozenset({Role.REGISTRAR})) == gao_and_kayes
        assert centres_from_claims(as_text, frozenset({Role.CASE_WORKER})) == gao_and_kayes

    def test_without_the_claim_field_staff_reach_nothing_and_national_roles_everything(
        self,
    ) -> None:
        assert centres_from_claims({}, frozenset({Role.REGISTRAR})) == frozenset()
        assert centres_from_claims({}, frozenset({Role.CASE_WORKER})) == frozenset()
        assert centres_from_claims({}, frozenset({Role.SUPERVISOR})) is None
        assert centres_from_claims({}, frozenset({Role.DATA_PROTECTION_OFFICER})) is None
        assert centres_from_claims({}, frozenset({Role.ANALYST})) == frozenset()
        assert centres_from_claims({}, frozenset({Role.ADMIN, Role.CASE_WORKER})) is None
        limited = {"centres": ["gao"]}
        assert centres_from_claims(limited, frozenset({Role.SUPERVISOR})) == frozenset(
            {ReceptionCentre.GAO}
        )

    def test_machine_roles_never_widen_a_persons_reach(self) -> None:
        """Services are national on their own; a partner reaches only the centres it names;
        a machine role on a person's account changes nothing for that person."""
        assert centres_from_claims({}, frozenset({Role.NOTIFICATIONS_SERVICE})) is None
        assert centres_from_claims({}, frozenset({Role.REPORTING_SERVICE})) is None
        assert centres_from_claims({}, frozenset({Role.PARTNER})) == frozenset()
        for machine in (Role.NOTIFICATIONS_SERVICE, Role.REPORTING_SERVICE, Role.PARTNER):
            assert centres_from_claims({}, frozenset({Role.REGISTRAR, machine})) == frozenset()
        named = {"centres": "kayes"}
        assert centres_from_claims(named, frozenset({Role.PARTNER})) == frozenset(
            {ReceptionCentre.KAYES}
        )

    def test_a_listing_stays_within_the_callers_centres(self) -> None:
        at_gao = Principal("awa", frozenset({Role.REGISTRAR}), frozenset({ReceptionCentre.GAO}))
        national = Principal("admin", frozenset({Role.ADMIN}), None)

        assert at_gao.listing(None) == ["gao"]
        assert at_gao.listing(ReceptionCentre.GAO) == ["gao"]
        assert at_gao.listing(ReceptionCentre.BAMAKO) == []
        assert national.listing(None) is None
        assert national.listing(ReceptionCentre.BAMAKO) == ["bamako"]

    async def test_the_verifier_reads_the_centres_of_a_token(self) -> None:
        verifier = TokenVerifier(secret=SecretStr(SECRET))
        token = issue_dev_token(SECRET, Role.CASE_WORKER, centres=["kayes"])

        principal = await verifier.verify(token)

        assert principal.centres == frozenset({ReceptionCentre.KAYES})
        assert principal.works_at("kayes") and not principal.works_at("gao")


class TestVerifiedTokenCache:
    """The verifier remembers tokens it has checked, without extending their lifetime."""

    async def test_a_remembered_token_is_refused_once_it_expires(self) -> None:
        verifier = TokenVerifier(secret=SecretStr(SECRET))
        token = issue_dev_token(SECRET, Role.REGISTRAR, subject="awa", ttl=timedelta(seconds=2))
        assert (await verifier.verify(token)).subject == "awa"
        assert (await verifier.verify(token)).subject == "awa"  # served from the cache

        # PyJWT reads the real clock, so the token has to really expire.
        await asyncio.sleep(2.1)

        with pytest.raises(InvalidTokenError, match="expired"):
            await verifier.verify(token)

    async def test_a_token_is_checked_again_after_five_minutes_whatever_its_lifetime(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        checks: list[str] = []
        real_decode = jwt.decode

        def counting_decode(token: str, *args: Any, **kwargs: Any) -> Any:
            checks.append(token)
            return real_decode(token, *args, **kwargs)

        monkeypatch.setattr(jwt, "decode", counting_decode)
        verifier = TokenVerifier(secret=SecretStr(SECRET))
        token = issue_dev_token(SECRET, Role.REGISTRAR, subject="awa", ttl=timedelta(hours=8))
        await verifier.verify(token)
        await verifier.verify(token)
        assert len(checks) == 1

        later = time.time() + REMEMBER_TOKENS_SECONDS + 1
        monkeypatch.setattr(time, "time", lambda: later)
        await verifier.verify(token)

        assert len(checks) == 2

    async def test_a_refused_token_is_refused_again(self) -> None:
        verifier = TokenVerifier(secret=SecretStr(SECRET))
        forged = issue_dev_token("another-secret-of-32-characters!!", Role.ADMIN, subject="eve")

        for _ in range(2):
            with pytest.raises(InvalidTokenError):
                await verifier.verify(forged)

    def test_the_cache_forgets_the_least_recently_used_token_beyond_its_capacity(self) -> None:
        cache = _VerifiedTokens(capacity=2)
        far = time.time() + 3600
        for name in ("a", "b"):
            cache.put(name, Principal(name, frozenset()), expires_at=far)
        assert cache.get("a") is not None  # "b" is now the least recently used
        cache.put("c", Principal("c", frozenset()), expires_at=far)

        assert cache.get("b") is None
        assert cache.get("a") is not None
        assert cache.get("c") is not None
