"""The API's documentation pages, /docs (Swagger UI) and /redoc, with every file they load
served by the service itself.

A reception centre often has no internet, and the pages FastAPI makes load Swagger UI and
ReDoc from a CDN: they were blank there. The files come from the ``fastapi-offline`` wheel
(Swagger UI 5 and ReDoc 2, pinned by the lock like any other dependency).
"""

from importlib.resources import files

from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_PATH = "/docs/assets"
# The pages may load nothing from another origin: ReDoc's footer shows Redocly's logo from
# their CDN, and a later version of either could add more. Both pages set their options in
# an inline script and style; ReDoc's search runs in a worker made from a blob.
_CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline';"
    " img-src 'self' data:; worker-src 'self' blob:; connect-src 'self'"
)
SWAGGER_UI_PATH = "/docs"
REDOC_PATH = "/redoc"
_ASSETS = files("fastapi_offline") / "static"


def serve_api_docs(app: FastAPI) -> None:
    openapi_url = app.openapi_url or "/openapi.json"
    oauth2_redirect_url = app.swagger_ui_oauth2_redirect_url or "/docs/oauth2-redirect"
    app.mount(ASSETS_PATH, StaticFiles(directory=str(_ASSETS)), name="api-docs-assets")

    @app.get(SWAGGER_UI_PATH, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = _root(request)
        return _self_contained(
            get_swagger_ui_html(
                openapi_url=f"{root}{openapi_url}",
                title=f"{app.title}: API",
                oauth2_redirect_url=f"{root}{oauth2_redirect_url}",
                swagger_js_url=f"{root}{ASSETS_PATH}/swagger-ui-bundle.js",
                swagger_css_url=f"{root}{ASSETS_PATH}/swagger-ui.css",
                swagger_favicon_url=f"{root}{ASSETS_PATH}/favicon.png",
                # No validator badge: Swagger UI would send the document to validator.swagger.io.
                swagger_ui_parameters={"validatorUrl": None},
            )
        )

    @app.get(oauth2_redirect_url, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get(REDOC_PATH, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = _root(request)
        return _self_contained(
            get_redoc_html(
                openapi_url=f"{root}{openapi_url}",
                title=f"{app.title}: API",
                redoc_js_url=f"{root}{ASSETS_PATH}/redoc.standalone.js",
                redoc_favicon_url=f"{root}{ASSETS_PATH}/favicon.png",
                # ReDoc fetches Google's fonts unless told not to: nothing leaves the service.
                with_google_fonts=False,
            )
        )


def _self_contained(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = _CONTENT_SECURITY_POLICY
    return page


def _root(request: Request) -> str:
    """The path the service is mounted under behind a proxy (``--root-path``), if any."""
    return str(request.scope.get("root_path", "")).rstrip("/")
