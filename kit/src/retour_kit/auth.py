"""Bearer-token authentication and role checks for the HTTP APIs.

Locally, tokens are HS256-signed with AUTH_JWT_SECRET (see `issue_dev_token` and
`python -m retour_kit.token`). In production an identity provider such as
Keycloak signs RS256 tokens whose public keys are fetched from AUTH_JWKS_URL. The local
stack sets both, so that Keycloak's tokens and `make token`'s are accepted side by side;
production sets AUTH_JWKS_URL alone (anyone holding the secret could make any token).

Need-to-know: a token's `centres` claim names the reception centres its holder works at
(docs/data-protection.md shows the Keycloak mapper). Registrars and case workers act only
within those; a token of theirs without the claim reaches no centre at all, so a forgotten
mapper fails closed. Supervisors, admins and data protection officers are national unless
their token names centres.
"""

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

import jwt
from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr

from retour_contracts import ReceptionCentre
from retour_kit.settings import ServiceSettings


class Role(StrEnum):
    REGISTRAR = "registrar"
    CASE_WORKER = "case_worker"
    SUPERVISOR = "supervisor"
    ANALYST = "analyst"
    ADMIN = "admin"
    DATA_PROTECTION_OFFICER = "data_protection_officer"
    # Machines, not people: the service accounts of retour's own services and of partners.
    NOTIFICATIONS_SERVICE = "notifications_service"
    """Notifications: may obtain returnees' data keys, to text those who consented."""
    REPORTING_SERVICE = "reporting_service"
    """Reporting: never entitled to personal data; intake refuses it every data key."""
    PARTNER = "partner"
    """A partner organisation's system: data keys of returnees who consented to sharing."""


CENTRES_CLAIM = "centres"
NATIONAL_ROLES = frozenset({Role.SUPERVISOR, Role.ADMIN, Role.DATA_PROTECTION_OFFICER})
"""Roles that reach every centre when their token names none (the data protection officer
answers erasure requests from every centre, and reads no registration)."""
SERVICE_ROLES = frozenset({Role.NOTIFICATIONS_SERVICE, Role.REPORTING_SERVICE})
"""retour's own services: national, but only in a token that holds no other role, so that a
service role added to a person's account never widens that person's reach."""
MACHINE_ROLES = SERVICE_ROLES | {Role.PARTNER}
"""Accounts of systems, not people. A partner reaches only the centres its token names: a
partner token without the claim reaches none (a national partner names all five)."""


@dataclass(frozen=True)
class Principal:
    subject: str
    roles: frozenset[Role]
    centres: frozenset[ReceptionCentre] | None = None
    """The reception centres this person works at; None: every centre."""

    def works_at(self, centre: ReceptionCentre | str) -> bool:
        return self.centres is None or ReceptionCentre(centre) in self.centres

    @property
    def centre_filter(self) -> list[str] | None:
        """The centres as a SQL array parameter, None for every centre:
        ``($n::text[] IS NULL OR reception_centre = ANY($n))``."""
        return None if self.centres is None else sorted(self.centres)

    def listing(self, asked: ReceptionCentre | None) -> list[str] | None:
        """The centres a listing covers: the one ``asked`` for (None: all), within the
        caller's own, as for ``centre_filter``; an outside centre gives an empty listing."""
        if asked is None:
            return self.centre_filter
        return [ReceptionCentre(asked).value] if self.works_at(asked) else []


class InvalidTokenError(Exception):
    """The token is malformed, badly signed, expired or lacks required claims."""


class IdentityProviderUnavailableError(Exception):
    """The JWKS endpoint could not be reached, so no token can be checked."""


JWKS_REFETCH_SECONDS = 5.0
"""PyJWT's default, 30 s, would answer 401 for half a minute after a key rotation."""


class TokenVerifier:
    """Checks a bearer token and turns its claims into a `Principal`."""

    def __init__(
        self,
        *,
        secret: SecretStr | None = None,
        jwks_url: str | None = None,
        audience: str | None = None,
        issuer: str | None = None,
    ) -> None:
        if secret is None and jwks_url is None:
            raise ValueError("TokenVerifier needs a secret, a jwks_url, or both")
        self._secret = secret
        # PyJWKClient caches the key set (5 min) and refetches it for a key id it does not know,
        # at most every JWKS_REFETCH_SECONDS: a key the identity provider starts signing with is
        # trusted within seconds, and tokens with made-up key ids cannot flood it with fetches.
        self._jwks = (
            jwt.PyJWKClient(jwks_url, timeout=5, cooldown_duration=JWKS_REFETCH_SECONDS)
            if jwks_url
            else None
        )
        self._audience = audience
        self._issuer = issuer
        self._verified = _VerifiedTokens()

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> "TokenVerifier":
        return cls(
            secret=settings.auth_jwt_secret,
            jwks_url=str(settings.auth_jwks_url) if settings.auth_jwks_url else None,
            audience=settings.auth_audience,
            issuer=settings.auth_issuer,
        )

    async def verify(self, token: str) -> Principal:
        cached = self._verified.get(token)
        if cached is not None:
            return cached
        key, algorithm = await self._signing_key(token)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=self._audience,
                issuer=self._issuer,
                options={"require": ["exp", "sub"], "verify_aud": self._audience is not None},
            )
        except jwt.PyJWTError as error:
            raise InvalidTokenError(str(error)) from error
        roles = roles_from_claims(claims)
        principal = Principal(
            subject=str(claims["sub"]), roles=roles, centres=centres_from_claims(claims, roles)
        )
        remember_until = min(float(claims["exp"]), time.time() + REMEMBER_TOKENS_SECONDS)
        self._verified.put(token, principal, expires_at=remember_until)
        return principal

    async def _signing_key(self, token: str) -> tuple[Any, str]:
        # The token's header names its algorithm, and each algorithm has one key source: an
        # HS256 token is checked with the secret only, an RS256 one with the identity
        # provider's keys only, never one with the other's key (algorithm confusion).
        try:
            algorithm = jwt.get_unverified_header(token).get("alg")
        except jwt.PyJWTError as error:
            raise InvalidTokenError(str(error)) from error
        if algorithm == "HS256" and self._secret is not None:
            return self._secret.get_secret_value(), "HS256"
        if algorithm != "RS256" or self._jwks is None:
            raise InvalidTokenError(f"tokens signed with {algorithm} are not accepted here")
        try:
            # The JWKS fetch is blocking urllib I/O: keep it off the event loop.
            signing_key = await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)
        except jwt.PyJWKClientConnectionError as error:
            raise IdentityProviderUnavailableError(str(error)) from error
        except jwt.PyJWTError as error:
            raise InvalidTokenError(str(error)) from error
        return signing_key.key, "RS256"


REMEMBER_TOKENS_SECONDS = 300.0


class _VerifiedTokens:
    """Tokens already checked, until they expire.

    A client sends the same token with every request for its lifetime; checking the signature
    (and, with JWKS, hopping to a thread) each time was about 5 % of intake's CPU per
    registration. A token is remembered until its own `exp` or for REMEMBER_TOKENS_SECONDS,
    whichever comes first: the cache adds no lifetime, a key withdrawn from the identity
    provider's JWKS stops counting as soon as it would without the cache (PyJWKClient keeps
    the key set as long), and a token that failed is never stored.
    """

    def __init__(self, capacity: int = 4096) -> None:
        self._capacity = capacity
        self._entries: OrderedDict[str, tuple[Principal, float]] = OrderedDict()

    def get(self, token: str) -> Principal | None:
        entry = self._entries.get(token)
        if entry is None:
            return None
        principal, expires_at = entry
        if time.time() >= expires_at:
            del self._entries[token]
            return None
        self._entries.move_to_end(token)
        return principal

    def put(self, token: str, principal: Principal, *, expires_at: float) -> None:
        self._entries[token] = (principal, expires_at)
        self._entries.move_to_end(token)
        if len(self._entries) > self._capacity:
            self._entries.popitem(last=False)


_ROLE_NAMES = frozenset(role.value for role in Role)


def roles_from_claims(claims: dict[str, Any]) -> frozenset[Role]:
    """Known roles from a `roles` list claim and Keycloak's `realm_access.roles`."""
    realm_access = claims.get("realm_access")
    names = [
        *_as_list(claims.get("roles")),
        *_as_list(realm_access.get("roles") if isinstance(realm_access, dict) else None),
    ]
    # Identity providers add roles of their own (offline_access, ...); those are ignored.
    return frozenset(Role(name) for name in names if name in _ROLE_NAMES)


def centres_from_claims(
    claims: dict[str, Any], roles: frozenset[Role]
) -> frozenset[ReceptionCentre] | None:
    """The `centres` claim: a list, or one comma-separated string (a Keycloak user attribute
    that holds one value). Unknown names are ignored, never widened into more access."""
    claimed = claims.get(CENTRES_CLAIM)
    if claimed is None:
        people = roles - MACHINE_ROLES
        if people:
            return None if not people.isdisjoint(NATIONAL_ROLES) else frozenset()
        return None if not roles.isdisjoint(SERVICE_ROLES) else frozenset()
    names = claimed.split(",") if isinstance(claimed, str) else _as_list(claimed)
    known = {centre.value for centre in ReceptionCentre}
    return frozenset(
        ReceptionCentre(name.strip().lower())
        for name in names
        if isinstance(name, str) and name.strip().lower() in known
    )


def _as_list(value: object) -> Iterable[object]:
    return value if isinstance(value, list) else ()


def parse_centres(text: str) -> frozenset[ReceptionCentre]:
    """``"gao,kayes"`` as centres; raises ValueError naming an unknown one."""
    centres = set()
    for name in filter(None, (part.strip().lower() for part in text.split(","))):
        try:
            centres.add(ReceptionCentre(name))
        except ValueError:
            known = ", ".join(centre.value for centre in ReceptionCentre)
            raise ValueError(f"unknown reception centre {name!r} (known: {known})") from None
    return frozenset(centres)


API_AUDIENCE = "retour-api"
"""The audience of retour's APIs: the identity provider's tokens name it (the realm's audience
mapper), and the local stack checks it (AUTH_AUDIENCE), on its development tokens too."""


def issue_dev_token(
    secret: str | SecretStr,
    role: Role | str,
    *,
    subject: str | None = None,
    ttl: timedelta = timedelta(hours=8),
    audience: str | None = API_AUDIENCE,
    issuer: str | None = None,
    centres: Iterable[ReceptionCentre | str] | None = None,
) -> str:
    """An HS256 token for local work and tests; production tokens come from the IdP.

    ``centres``: where the holder works; None names every centre (development).
    ``audience``: retour's APIs unless told otherwise; None leaves the claim out."""
    role = Role(role)
    now = datetime.now(UTC)
    chosen = list(ReceptionCentre) if centres is None else [ReceptionCentre(c) for c in centres]
    claims: dict[str, Any] = {
        "sub": subject or f"dev-{role.value}",
        "roles": [role.value],
        CENTRES_CLAIM: sorted(centre.value for centre in chosen),
        "iat": now,
        "exp": now + ttl,
    }
    if audience:
        claims["aud"] = audience
    if issuer:
        claims["iss"] = issuer
    key = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
    return jwt.encode(claims, key, algorithm="HS256")


_bearer = HTTPBearer(auto_error=False, description="JWT issued by the identity provider")


def require_roles(*roles: Role) -> Callable[..., Awaitable[Principal]]:
    """FastAPI dependency: the caller must hold at least one of `roles` (any role if none)."""

    async def authenticated_principal(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        if credentials is None:
            raise _unauthorized("missing bearer token")
        try:
            principal = await token_verifier(request).verify(credentials.credentials)
        except InvalidTokenError as error:
            raise _unauthorized(f"invalid token: {error}") from error
        except IdentityProviderUnavailableError as error:
            raise HTTPException(503, "identity provider unavailable") from error
        if roles and principal.roles.isdisjoint(roles):
            raise HTTPException(403, f"role {' or '.join(roles)} required")
        return principal

    return authenticated_principal


def token_verifier(request: Request) -> TokenVerifier:
    verifier = getattr(request.app.state, "token_verifier", None)
    if not isinstance(verifier, TokenVerifier):
        raise RuntimeError("no TokenVerifier on app.state; build the app with create_http_app")
    return verifier


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})
