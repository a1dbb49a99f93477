"""create_app(): the root Starlette app, its lifespan, and every surface mounted under it."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.exc import IntegrityError, OperationalError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from leadline import live
from leadline.auth import service as auth
from leadline.auth.cache import PrincipalCache
from leadline.clickhouse.source import ClickHouseSource
from leadline.config import Settings, get_settings
from leadline.db import Database
from leadline.forms.writer import CaptureWriter
from leadline.http import RequestIdMiddleware, SurfaceMount, headers_too_large
from leadline.inbox.widget import WidgetPagesCache
from leadline.kit import changes, metrics, stopping
from leadline.kit.changes import ChangeBus
from leadline.kit.proxies import TrustedProxies
from leadline.leads.writer import LeadWriter
from leadline.logs import configure_logging
from leadline.sites.cache import CaptureSites, SiteCache
from leadline.surfaces import widget as widget_router
from leadline.surfaces.leadiosa import create_leadiosa_app
from leadline.surfaces.metrics import METRICS_ROUTES
from leadline.surfaces.octanist import create_octanist_app
from leadline.surfaces.pulsegate import envelope as pulsegate
from leadline.surfaces.pulsegate import tracking as tracking_router
from leadline.surfaces.pulsegate.analytics import ANALYTICS_ROUTES
from leadline.surfaces.pulsegate.capture import CAPTURE_ROUTES
from leadline.surfaces.pulsegate.forms import FORM_ROUTES
from leadline.surfaces.pulsegate.health import HEALTH_ROUTES
from leadline.surfaces.pulsegate.management import MANAGEMENT_ROUTES
from leadline.surfaces.pulsegate.openapi import OPENAPI_ROUTES
from leadline.surfaces.widget import WIDGET_ROUTES
from leadline.surfaces.widget_openapi import WIDGET_OPENAPI_ROUTES
from leadline.tracking import enrich
from leadline.tracking.ingest_errors import IngestErrors
from leadline.tracking.limits import TrackingLimiter
from leadline.tracking.scripts import SCRIPT_ROUTES
from leadline.tracking.writer import TrackingWriter
from leadline.web import create_web_app
from leadline.workspaces import service as workspaces

log = logging.getLogger(__name__)

# How long a start waits for the database to take the keys of the environment, and how often
# it tries again after.
ENVIRONMENT_KEYS_WAIT = 10.0
ENVIRONMENT_KEYS_RETRY = 5.0


class LeadlineApp(Starlette):
    """The root app. Tracking requests, the hottest path by far, go straight to their ASGI
    handler; everything else goes through the middleware stack and the routes."""

    # The tracking routes' limiter, site cache and writer (set by create_app).
    tracking: tracking_router.TrackingParts
    # Where the analytics routes read events when LEADLINE_CLICKHOUSE_URL is set.
    clickhouse: ClickHouseSource | None = None
    # What the process keeps in memory of keys and sites, and the bus that tells it what
    # changed (set by create_app).
    changes: ChangeBus
    principals: PrincipalCache
    capture_sites: CaptureSites
    widget_pages: WidgetPagesCache

    # Whose forwarded headers say who the client is (set by create_app).
    proxies: TrustedProxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.proxies.enabled and scope["type"] in ("http", "websocket"):
            self.proxies.resolve(scope)
        if scope["type"] == "http":
            path: str = scope["path"]
            # The API surfaces bound headers themselves, in their own envelopes.
            if not path.startswith("/api/") and (refused := headers_too_large(scope)):
                if path.startswith(widget_router.PREFIX):
                    await widget_router.error_answer(refused)(scope, receive, send)
                    return
                await pulsegate.error_answer(refused)(scope, receive, send)
                return
            if path.startswith(tracking_router.PREFIX):
                scope["app"] = self
                await tracking_router.handle(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


async def root(request: Request) -> Response:
    """``GET /``: a browser goes to the dashboard; anything else is refused as before (``/``
    takes PulseGate's capture POST only)."""
    if "text/html" in request.headers.get("accept", ""):
        return RedirectResponse("/app/", status_code=303)
    raise HTTPException(405, headers={"Allow": "POST"})


def create_app(settings: Settings | None = None, *, worker: bool = False) -> LeadlineApp:
    """The whole application. With ``worker`` it also runs a job worker in the same process,
    sharing its database engine, from startup to shutdown."""
    settings = settings or get_settings()
    configure_logging(settings)
    changes.configure(settings.redis_url)
    # What this process keeps in memory, and how it hears that it changed (kit/changes.py).
    bus = ChangeBus(settings.redis_url)
    principals = PrincipalCache(bus)
    capture_sites = CaptureSites(bus)
    site_cache = SiteCache(bus)
    widget_pages = WidgetPagesCache(bus)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        db = Database(settings)
        live_hub = live.configure(settings.redis_url)
        await live_hub.start()
        keys_later = await environment_keys(db, settings)
        # What was kept before a restart of the app was heard by no one meanwhile.
        bus.forget_everything()
        hearing = asyncio.create_task(bus.run(), name="changes")
        lead_writer = LeadWriter(db)
        lead_writer.start()
        capture_writer = CaptureWriter(db)
        capture_writer.start()
        writer = app.tracking.writer  # type: ignore[attr-defined]
        writer.start()
        ingest_errors = IngestErrors(db)
        # Everything made while starting up lives as long as the process: keep it out of the
        # cyclic collector's full passes, which otherwise walk it all and stall requests (tens
        # of milliseconds each on the tracking routes). The parsers' data is loaded first.
        enrich.warm_up(app.tracking.user_agents)  # type: ignore[attr-defined]
        gc.freeze()
        stop = asyncio.Event()
        running: asyncio.Task[None] | None = None
        if worker:
            from leadline.jobs.worker import Worker

            running = asyncio.create_task(Worker(db, settings).run(stop), name="job worker")
        try:
            yield {
                "db": db,
                "settings": settings,
                "principals": principals,
                "capture_sites": capture_sites,
                "widget_pages": widget_pages,
                "lead_writer": lead_writer,
                "capture_writer": capture_writer,
                "ingest_errors": ingest_errors,
            }
        finally:
            stop.set()
            if keys_later is not None:
                keys_later.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await keys_later
            await stopping.cancel(hearing)
            if running is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await running
            await capture_writer.stop()
            await lead_writer.stop()
            await writer.stop()
            clickhouse: ClickHouseSource | None = getattr(app, "clickhouse", None)
            if clickhouse is not None:
                await asyncio.to_thread(clickhouse.close)
            await ingest_errors.close()
            await live_hub.close()
            await db.dispose()

    # Where the events are read and erased when ClickHouse keeps them; the mounted surfaces
    # reach it through their own app's state.
    clickhouse_source = (
        ClickHouseSource(settings.clickhouse_url, settings.events_retention_days)
        if settings.clickhouse_url
        else None
    )
    leadiosa_app = create_leadiosa_app(settings)
    web_app = create_web_app(settings)
    for surface in (leadiosa_app, web_app):
        surface.state.clickhouse = clickhouse_source
    app = LeadlineApp(
        routes=[
            *HEALTH_ROUTES,
            *METRICS_ROUTES,
            *SCRIPT_ROUTES,
            *FORM_ROUTES,
            *CAPTURE_ROUTES,
            *WIDGET_ROUTES,
            *WIDGET_OPENAPI_ROUTES,
            # After the capture routes: another method than GET on / is still refused with
            # theirs (Allow: POST).
            Route("/", root, methods=["GET"]),
            *MANAGEMENT_ROUTES,
            *ANALYTICS_ROUTES,
            *OPENAPI_ROUTES,
            # Before /api: routes match in order, and /api/v1/... belongs to Leadiosa.
            SurfaceMount("/api/v1", app=leadiosa_app),
            SurfaceMount("/api", app=create_octanist_app(settings)),
            SurfaceMount("/app", app=web_app),
        ],
        lifespan=lifespan,
        # Routing's refusals and anything unforeseen outside /api/ (whose surfaces answer
        # their own) in PulseGate's shape, never Starlette's plain text.
        exception_handlers={
            HTTPException: pulsegate.http_error,
            Exception: pulsegate.internal_error,
        },
    )
    app.tracking = tracking_router.TrackingParts(
        limiter=TrackingLimiter(
            settings.redis_url,
            frozenset(
                ip.strip() for ip in settings.tracking_whitelist_ips.split(",") if ip.strip()
            ),
        ),
        site_cache=site_cache,
        writer=TrackingWriter(
            settings.sync_url,
            capacity=settings.tracking_queue_events,
            defer_from=settings.tracking_defer_from,
            fold_after=settings.tracking_fold_after_seconds,
            clickhouse_url=settings.clickhouse_url or None,
            events_retention_days=settings.events_retention_days,
        ),
    )
    app.clickhouse = clickhouse_source
    app.changes, app.principals, app.capture_sites = bus, principals, capture_sites
    app.widget_pages = widget_pages
    # The gauge reads the writer of the app made last in the process (the one serving).
    tracking_writer = app.tracking.writer
    metrics.WRITER_WAITING.set_function(lambda: tracking_writer.waiting)
    app.proxies = TrustedProxies.from_setting(settings.trusted_proxies)
    app.add_middleware(RequestIdMiddleware, settings=settings)
    return app


async def environment_keys(db: Database, settings: Settings) -> asyncio.Task[None] | None:
    """Accept the keys of the environment before the first request, when the database answers;
    else go on trying in a task (returned, to be cancelled at shutdown): the app starts all
    the same, and /health says why the database does not answer."""
    try:
        await asyncio.wait_for(accept_environment_keys(db, settings), ENVIRONMENT_KEYS_WAIT)
    except (OperationalError, OSError, TimeoutError) as exc:
        log.warning("environment keys not read yet (%s); trying again", type(exc).__name__)
        return asyncio.create_task(
            accept_environment_keys_later(db, settings), name="environment keys"
        )
    return None


async def accept_environment_keys(db: Database, settings: Settings) -> None:
    """Make ANALYTICS_API_KEY and ANALYTICS_MARKETING_API_KEY, as set now, the keys of the
    environment that the default workspace accepts (auth.service.sync_environment_keys)."""
    values = {
        "ANALYTICS_API_KEY": settings.analytics_api_key,
        "ANALYTICS_MARKETING_API_KEY": settings.analytics_marketing_api_key,
    }
    if not any(values.values()):
        # The usual start: nothing set. Only keys set before need a transaction, to go.
        async with db.sessionmaker() as session:
            if not await auth.has_environment_keys(session):
                return
    done: list[str] = []
    for attempt in (1, 2):
        try:
            async with db.transaction() as session:
                done = await auth.sync_environment_keys(session, values, workspaces.DEFAULT_SLUG)
            break
        except IntegrityError:
            # Another process starting at the same moment stored the same key first.
            if attempt == 2:
                raise
    for line in done:
        log.info("environment keys: %s", line)


async def accept_environment_keys_later(db: Database, settings: Settings) -> None:
    """Try :func:`accept_environment_keys` until the database answers."""
    while True:
        await asyncio.sleep(ENVIRONMENT_KEYS_RETRY)
        try:
            await accept_environment_keys(db, settings)
            return
        except (OperationalError, OSError):
            continue
