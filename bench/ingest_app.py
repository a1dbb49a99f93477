"""The production app plus a route that does nothing, for bench/ingest.py.

``POST /bench/noop`` answers 204 through the same server, middleware and router as the
tracking routes, so the ingest benchmark can tell the cost of the stack from that of the work.
It exists only here, never in leadline/.

    python -m uvicorn bench.ingest_app:app_factory --factory
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from leadline.app import create_app
from leadline.config import Settings

NOOP_PATH = "/bench/noop"


async def noop(request: Request) -> Response:
    return Response(status_code=204)


def app_factory() -> Starlette:
    app = create_app(Settings())
    # First, so matching it costs no more than matching the first tracking route.
    app.router.routes.insert(0, Route(NOOP_PATH, noop, methods=["POST"]))
    return app
