"""create_app(): the root Starlette app, its lifespan, and every surface mounted under it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from leadline import __version__
from leadline.config import Settings, get_settings
from leadline.db import Database
from leadline.http import RequestIdMiddleware
from leadline.surfaces.octanist import create_octanist_app


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok", "version": __version__})


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        db = Database(settings)
        try:
            yield {"db": db, "settings": settings}
        finally:
            await db.dispose()

    app = Starlette(
        routes=[
            Route("/health", health, methods=["GET"]),
            Mount("/api", app=create_octanist_app(settings)),
        ],
        lifespan=lifespan,
    )
    app.add_middleware(RequestIdMiddleware)
    return app
