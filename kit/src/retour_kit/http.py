"""The FastAPI application shell every service's HTTP API is built on."""

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager

from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from retour_kit.api_docs import serve_api_docs
from retour_kit.auth import TokenVerifier
from retour_kit.http_errors import UnhandledErrorMiddleware, install_error_handlers
from retour_kit.http_limits import BodyRules, BodySizeLimitMiddleware, JsonContentTypeMiddleware
from retour_kit.metrics import HttpMetrics, RequestMetricsMiddleware
from retour_kit.openapi_documents import complete_document
from retour_kit.readiness import OK, ReadinessCheck, run_readiness_checks
from retour_kit.settings import ServiceSettings
from retour_kit.telemetry import TracingMiddleware

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def create_http_app(
    *,
    title: str,
    version: str,
    settings: ServiceSettings,
    description: str = "",
    lifespan: Lifespan | None,
    readiness: Sequence[ReadinessCheck],
    registry: CollectorRegistry,
    body_rules: BodyRules | None = None,
) -> FastAPI:
    """A FastAPI app with /healthz, /readyz, /metrics, JSON errors, request guards
    and bearer-token verification (used by `retour_kit.auth.require_roles`).

    ``body_rules``: the routes whose body is not JSON of at most HTTP_MAX_BODY_BYTES."""
    # FastAPI's own /docs and /redoc load their scripts from a CDN: replaced by pages whose
    # files the service serves itself (retour_kit.api_docs).
    app = FastAPI(
        title=title,
        version=version,
        description=description,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.token_verifier = TokenVerifier.from_settings(settings)
    install_error_handlers(app)
    complete_document(app)
    app.include_router(_operations_router(readiness, registry))
    serve_api_docs(app)
    # Each add_middleware wraps the previous ones: the last added sees a request first.
    app.add_middleware(JsonContentTypeMiddleware, rules=body_rules)
    app.add_middleware(
        BodySizeLimitMiddleware, max_body_bytes=settings.http_max_body_bytes, rules=body_rules
    )
    app.add_middleware(UnhandledErrorMiddleware)
    app.add_middleware(RequestMetricsMiddleware, metrics=HttpMetrics.register(registry))
    # Outermost: the request's span covers every guard, and is current in all of them.
    app.add_middleware(TracingMiddleware)
    return app


def _operations_router(
    readiness: Sequence[ReadinessCheck], registry: CollectorRegistry
) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        # Liveness only: answering at all is the signal. Dependencies belong in /readyz,
        # or an outage of Postgres would make Kubernetes restart every pod.
        return {"status": "ok"}

    @router.get("/readyz")
    async def readyz() -> JSONResponse:
        checks = await run_readiness_checks(readiness)
        ready = all(checks[check.name] == OK for check in readiness if check.required)
        # What is down without stopping the service from serving: its events wait.
        degraded = [c.name for c in readiness if not c.required and checks[c.name] != OK]
        return JSONResponse(
            {"status": "ready" if ready else "not_ready", "checks": checks, "degraded": degraded},
            status_code=200 if ready else 503,
        )

    @router.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return router
