"""The kit's HTTP shell with nothing behind it, for tests that add a route or two of their own."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from retour_kit.http import create_http_app
from retour_kit.http_limits import BodyRules
from retour_kit.readiness import ReadinessCheck
from retour_kit.settings import ServiceSettings


def bare_service_app(
    readiness: Sequence[ReadinessCheck] = (), body_rules: BodyRules | None = None, **settings: Any
) -> FastAPI:
    """``create_http_app`` as a service calls it, with no lifespan and no database behind it.

    ``settings`` are ServiceSettings fields; an HS256 secret is given unless the test names
    its own token key source.
    """
    if "auth_jwks_url" not in settings:
        settings.setdefault("auth_jwt_secret", "s" * 32)
    return create_http_app(
        title="t",
        version="0",
        settings=ServiceSettings(database_url="postgresql://db/retour", **settings),
        lifespan=None,
        readiness=readiness,
        registry=CollectorRegistry(),
        body_rules=body_rules,
    )
