"""``GET /metrics``: the process's metrics in Prometheus' text format (docs/operations.md).

Open to loopback clients while ``LEADLINE_METRICS_TOKEN`` is unset; with it set, every client
sends ``Authorization: Bearer <token>``. The job queue's figures are read from the database at
each scrape (a few index walks), so any process's answer tells the whole queue.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, Gauge, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from leadline.config import Settings
from leadline.db import Database
from leadline.errors import Forbidden, LeadlineError, Unauthorized
from leadline.jobs import service as jobs
from leadline.kit import metrics
from leadline.surfaces.pulsegate.envelope import error_answer

log = logging.getLogger(__name__)

# A scrape waits this long for the database; Prometheus' own timeout is ten seconds.
DATABASE_TIMEOUT_SECONDS = 2.0

DATABASE_UP = Gauge(
    "leadline_database_up",
    "1 when the scrape read the job queue's figures from the database, 0 when it could not.",
    registry=metrics.registry,
)

# Headers a reverse proxy adds: a request that carries one came from elsewhere, whatever
# address it arrived from.
_FORWARDED = ("forwarded", "x-forwarded-for", "x-real-ip")


def _loopback(host: str | None) -> bool:
    if not host:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def refusal(request: Request, token: str | None) -> LeadlineError | None:
    """Why this client may not read the metrics, or None when it may."""
    if token:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode(), token.encode()
        ):
            return Unauthorized("send the metrics token: Authorization: Bearer <token>")
        return None
    client = request.client.host if request.client else None
    if not _loopback(client) or any(name in request.headers for name in _FORWARDED):
        return Forbidden(
            "metrics are served to loopback clients only; set LEADLINE_METRICS_TOKEN to let "
            "other clients in with it"
        )
    return None


async def read_queue(db: Database) -> None:
    """Set the job queue's gauges from the database; on failure leave them and say so."""
    try:
        async with asyncio.timeout(DATABASE_TIMEOUT_SECONDS), db.sessionmaker() as session:
            figures = await jobs.queue_figures(session)
    except Exception as exc:
        log.warning("metrics: the job queue could not be read: %s", type(exc).__name__)
        DATABASE_UP.set(0)
        return
    DATABASE_UP.set(1)
    metrics.JOBS.labels("due").set(figures.due)
    metrics.JOBS.labels("scheduled").set(figures.scheduled)
    metrics.JOBS.labels("running").set(figures.running)
    metrics.JOBS.labels("dead").set(figures.dead)
    metrics.JOBS_OLDEST_DUE.set(figures.oldest_due_seconds)


async def metrics_page(request: Request) -> Response:
    settings: Settings = request.state.settings
    refused = refusal(request, settings.metrics_token)
    if refused is not None:
        return error_answer(refused, cors={})
    await read_queue(request.state.db)
    return Response(
        generate_latest(metrics.registry),
        media_type=CONTENT_TYPE_LATEST,
        headers={"Cache-Control": "no-store"},
    )


METRICS_ROUTES = [Route("/metrics", metrics_page, methods=["GET"])]


def create_metrics_app(settings: Settings) -> Starlette:
    """An app that serves only ``GET /metrics``: what ``leadline worker`` listens with."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        db = Database(settings)
        try:
            yield {"db": db, "settings": settings}
        finally:
            await db.dispose()

    return Starlette(routes=METRICS_ROUTES, lifespan=lifespan)
