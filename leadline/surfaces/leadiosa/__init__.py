"""The Leadiosa-compatible REST API (v1), mounted at ``/api/v1``."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute

from leadline.config import Settings
from leadline.http import BodyLimitMiddleware
from leadline.kit.ratelimit import RateLimiter
from leadline.surfaces.documents import SurfaceAPI
from leadline.surfaces.leadiosa import (
    assistant,
    audit,
    billing,
    consent,
    contacts,
    conversations,
    conversions,
    data_subjects,
    jobs,
    knowledge,
    people,
    retention,
    tokens,
    webhooks,
    workspace,
)
from leadline.surfaces.leadiosa import schemas as s
from leadline.surfaces.leadiosa.envelope import install_error_handlers, render_error
from leadline.surfaces.leadiosa.gate import Gate

# Every resource router of the surface; a new resource is one more entry.
ROUTERS: tuple[APIRouter, ...] = (
    audit.router,
    billing.router,
    jobs.router,
    people.router,
    tokens.router,
    webhooks.router,
    workspace.router,
    conversations.router,
    contacts.router,
    conversions.router,
    knowledge.router,
    assistant.router,
    data_subjects.router,
    retention.router,
    consent.router,
)


def create_leadiosa_app(settings: Settings) -> FastAPI:
    app = SurfaceAPI(
        title="Leadline: Leadiosa-compatible REST API",
        version="1.0.0",
        description=(
            "Bearer-token authentication (`Authorization: Bearer <token>`), JSON in and out, "
            "cursor pagination, per-token rate limits reported in X-RateLimit-* headers."
        ),
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    install_error_handlers(app)
    for router in ROUTERS:
        _document_closed_workspaces(router)
        app.include_router(router)
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        render_error=render_error,
        json_by_default=True,
    )
    app.state.rate_limiter = RateLimiter(
        settings.api_rate_limit, settings.redis_url, namespace="leadiosa"
    )
    # Outside the body limit, so a 413 is answered to known keys only, and counted.
    app.add_middleware(
        Gate,
        limiter=app.state.rate_limiter,
        public_paths=[
            path
            for path in (app.openapi_url, app.docs_url, app.swagger_ui_oauth2_redirect_url)
            if path
        ],
    )
    return app


def _document_closed_workspaces(router: APIRouter) -> None:
    """Every write may be refused with 409 ``workspace_closed`` (dependencies.principal): the
    document says so for each route that takes one, whichever module declared it."""
    conflict = s.responses(409)[409]
    for route in router.routes:
        if isinstance(route, APIRoute) and set(route.methods or ()) - {"GET", "HEAD", "OPTIONS"}:
            route.responses.setdefault(409, conflict)
