"""The Octanist-compatible lead API, mounted at ``/api``."""

from __future__ import annotations

from fastapi import FastAPI

from leadline.config import Settings
from leadline.http import BodyLimitMiddleware, PageCorsMiddleware
from leadline.surfaces.documents import SurfaceAPI
from leadline.surfaces.octanist import incoming
from leadline.surfaces.octanist.envelope import install_error_handlers, render_error
from leadline.surfaces.octanist.imports import IMPORT_PATH
from leadline.surfaces.octanist.imports import router as imports_router
from leadline.surfaces.octanist.pixel import router as pixel_router
from leadline.surfaces.octanist.reports import router as reports_router
from leadline.surfaces.octanist.router import router
from leadline.surfaces.octanist.wordpress import router as wordpress_router


def create_octanist_app(settings: Settings) -> FastAPI:
    app = SurfaceAPI(
        title="Leadline: Octanist-compatible lead API",
        version="2.1.0",
        description=(
            "Leads with click IDs, UTM and consent, their pipeline status, stats and ad spend. "
            "Authenticate with the `X-API-KEY` header (or `Authorization: Bearer`)."
        ),
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    install_error_handlers(app)
    # Before the lead routes, so /leads/import is never read as the lead id "import".
    app.include_router(imports_router)
    app.include_router(router)
    app.include_router(reports_router)
    app.include_router(wordpress_router)
    app.include_router(pixel_router)
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        render_error=render_error,
        json_by_default=True,
        streamed={IMPORT_PATH: settings.import_max_bytes},
    )
    # Outermost, so that a body refused for its size is readable by the page too.
    app.add_middleware(
        PageCorsMiddleware,
        prefix=incoming.PREFIX,
        headers=incoming.CORS,
        max_age=incoming.PREFLIGHT_MAX_AGE,
    )
    return app
