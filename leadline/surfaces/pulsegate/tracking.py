"""The PulseGate tracking endpoints, served as plain ASGI ahead of the app's middleware stack.

They are the hottest paths of the app: the root app hands every ``/track/...`` request straight
to :func:`handle` (see ``leadline.app.LeadlineApp``), which reads the few headers it needs,
decodes the body with msgspec, prepares the work and waits for the tracking writer to commit it.

Every answer carries the CORS headers of the PulseGate docs and an ``X-Request-ID``; errors are
``{"error": "..."}``; each route has its per-IP limit per minute. Bodies may be sent as
``application/json`` or as ``text/plain`` (what ``navigator.sendBeacon`` sends without a CORS
preflight).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from starlette.types import Receive, Scope, Send

from leadline.config import Settings
from leadline.db import Database
from leadline.errors import (
    NotFound,
    PayloadTooLarge,
    RateLimited,
    WorkspaceClosed,
)
from leadline.http import decode_json
from leadline.kit import metrics
from leadline.kit.ids import request_id
from leadline.kit.ratelimit import RateStatus
from leadline.kit.time import utcnow
from leadline.sites.cache import PageHosts, SiteCache
from leadline.sites.service import SiteInfo
from leadline.surfaces.pulsegate.envelope import (
    CORS,
    PREFLIGHT_MAX_AGE,
    error_parts,
    not_routed,
    refusal,
)
from leadline.tracking import prepare as tracking
from leadline.tracking.enrich import UserAgents, country
from leadline.tracking.ingest_errors import IngestErrors
from leadline.tracking.limits import TrackingLimiter
from leadline.tracking.schemas import EventBatch, SingleEvent, VisitEnd, VisitStart
from leadline.tracking.writer import TrackingWriter
from leadline.workspaces import service as workspaces

log = logging.getLogger(__name__)

PREFIX = "/track/"
_CORS_RAW = [(name.lower().encode(), value.encode()) for name, value in CORS.items()]
_JSON = (b"content-type", b"application/json")
MAX_BODY = 512 * 1024
NO_LIFESPAN = (
    "the server was started without the app's lifespan (startup and shutdown events), so"
    " tracking cannot reach the database; run it with lifespan support on"
)
_encoder = msgspec.json.Encoder()


@dataclasses.dataclass
class TrackingParts:
    """What the tracking routes share for the life of the app (``LeadlineApp.tracking``)."""

    limiter: TrackingLimiter
    site_cache: SiteCache
    writer: TrackingWriter
    user_agents: UserAgents = dataclasses.field(default_factory=UserAgents)
    page_hosts: PageHosts = dataclasses.field(default_factory=PageHosts)
    # The instance's generated secret (for cookieless visitor ids) when none is configured,
    # read from the database once.
    generated_secret: str | None = None


@dataclasses.dataclass(slots=True)
class Incoming:
    """One tracking request: what the routes read of its scope, and its body."""

    scope: Scope
    headers: dict[bytes, bytes]
    body: bytes

    @property
    def settings(self) -> Settings:
        settings: Settings = self.scope["state"]["settings"]
        return settings

    @property
    def database(self) -> Database:
        db: Database = self.scope["state"]["db"]
        return db

    @property
    def parts(self) -> TrackingParts:
        parts: TrackingParts = self.scope["app"].tracking
        return parts

    def header(self, name: str) -> str | None:
        value = self.headers.get(name.encode())
        return value.decode("latin-1") if value is not None else None


class Answer:
    """A response: status, JSON body (or none) and extra headers."""

    __slots__ = ("body", "headers", "status")

    def __init__(
        self, status: int, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> None:
        self.status = status
        self.body = body
        self.headers = headers or {}


def _json(
    payload: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> Answer:
    return Answer(status, _encoder.encode(payload), headers)


def _error(message: str, status: int, headers: dict[str, str] | None = None) -> Answer:
    return _json({"error": message}, status, headers)


async def _send(send: Send, answer: Answer, rid: str) -> None:
    headers = [*_CORS_RAW, (b"x-request-id", rid.encode())]
    if answer.body:
        headers.append(_JSON)
    headers.append((b"content-length", str(len(answer.body)).encode()))
    headers.extend(
        (name.lower().encode(), value.encode()) for name, value in answer.headers.items()
    )
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": answer.body})


# ------------------------------------------------------------------------------ the entry


async def handle(scope: Scope, receive: Receive, send: Send) -> None:
    """Serve one HTTP request whose path starts with ``/track/``, and count it under its
    route (``leadline_http_requests_total``: these requests pass no middleware)."""
    started = time.perf_counter()
    status = await _handle(scope, receive, send)
    if status:
        path = scope["path"]
        metrics.requests.observe(
            path if path in ROUTES else metrics.UNMATCHED,
            scope["method"],
            status,
            time.perf_counter() - started,
        )


async def _handle(scope: Scope, receive: Receive, send: Send) -> int:
    """The status answered; 0 when the client went away before it was."""
    rid = request_id()
    state = scope.setdefault("state", {})
    state["request_id"] = rid
    path, method = scope["path"], scope["method"]
    if method == "OPTIONS":
        await _send(send, Answer(204, headers={"Access-Control-Max-Age": PREFLIGHT_MAX_AGE}), rid)
        return 204
    route = ROUTES.get(path)
    if route is None or method != "POST":
        refused = not_routed(method, path, None if route is None else ["POST"])
        status, payload, extra = error_parts(refused)
        await _send(send, _json(payload, status, extra), rid)
        return status
    if "db" not in state:
        # The database and settings come from the app's lifespan, which this server never ran.
        log.error(
            "tracking: %s %s arrived, but the server did not run the app's startup", method, path
        )
        await _send(send, _error(NO_LIFESPAN, 503), rid)
        return 503
    headers = dict(scope["headers"])
    body = await _read_body(headers, receive)
    if body is None:  # the client went away
        return 0
    try:
        if isinstance(body, PayloadTooLarge):
            status, payload, extra = error_parts(body)
            answer = _json(payload, status, extra)
        else:
            answer = await _serve(route, Incoming(scope, headers, body))
    except Exception:
        log.exception("tracking: %s %s failed", method, path)
        answer = _error("internal error", 500)
    if answer.status in COUNTED and isinstance(body, bytes):
        note_refusal(state, site_key_of(body))
    await _send(send, answer, rid)
    return answer.status


# Refusals counted as a site's ingest errors: not its visitors' going over the limits (429)
# nor a closed workspace's (409), which say nothing of whether its tracking works.
COUNTED = frozenset(range(400, 600)) - {409, 429}


class _Named(msgspec.Struct):
    siteKey: str = ""


def site_key_of(body: bytes) -> str | None:
    """The site key a refused body names, if it names one (only refusals read this)."""
    try:
        return msgspec.json.decode(body, type=_Named).siteKey or None
    except (msgspec.DecodeError, ValueError, RecursionError):
        # A body that is not UTF-8, or nested past the decoder's depth, names no site.
        return None


def note_refusal(state: dict[str, Any], site_key: str | None) -> None:
    """Count a refused request of ``site_key`` among the site's ingest errors."""
    errors: IngestErrors | None = state.get("ingest_errors")
    if errors is not None:
        errors.note(site_key)


async def _read_body(
    headers: dict[bytes, bytes], receive: Receive
) -> bytes | PayloadTooLarge | None:
    declared = headers.get(b"content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY:
        return _too_large(int(declared))
    body = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk: bytes = message.get("body", b"")
        body += chunk
        if len(body) > MAX_BODY:
            return _too_large(len(body))
        if not message.get("more_body", False):
            return body


def _too_large(size: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"the body is {size} bytes; at most {MAX_BODY} are accepted")


Work = Callable[[Incoming, tracking.Client], Awaitable[Answer]]


async def _serve(route: tuple[str, Work], incoming: Incoming) -> Answer:
    name, work = route
    client = _client(incoming)
    limiter = incoming.parts.limiter
    limit: RateStatus | None = None
    try:
        limit = await limiter.hit(name, client.ip)
        if limit is not None and not limit.allowed:
            raise RateLimited(
                f"too many requests to /track/{name}; retry in {limit.retry_after} s",
                retry_after=limit.retry_after,
            )
        answer = await work(incoming, client)
    except Exception as exc:
        if (refused := refusal(exc)) is None:
            raise
        status, body, headers = error_parts(refused)
        if isinstance(refused, RateLimited):
            headers.update(_limit_headers(limit))
        return _json(body, status, headers)
    if limit is not None:
        answer.headers.update(_limit_headers(limit))
    return answer


def _client(incoming: Incoming) -> tracking.Client:
    headers = incoming.headers
    host = incoming.parts.page_hosts.host(incoming.header("origin"), incoming.header("referer"))
    client = incoming.scope.get("client")
    return tracking.Client(
        ip=str(client[0]) if client else "",
        user_agent=headers.get(b"user-agent", b"").decode("latin-1")[:512],
        origin_host=host,
        dnt=headers.get(b"dnt") == b"1",
        gpc=headers.get(b"sec-gpc") == b"1",
    )


def _limit_headers(limit: RateStatus | None) -> dict[str, str]:
    if limit is None:
        return {}
    return {
        "X-RateLimit-Remaining": str(limit.remaining),
        "X-RateLimit-Reset": str(limit.reset_at),
    }


def _country(incoming: Incoming, client: tracking.Client) -> str | None:
    """Only a visit's start needs the country."""
    name = incoming.settings.country_header
    trusted = incoming.header(name.lower()) if name else None
    return country(client.ip, trusted)


async def _secret(incoming: Incoming) -> str:
    settings = incoming.settings
    if settings.secret_key:
        return settings.secret_key
    parts = incoming.parts
    if parts.generated_secret is None:
        async with incoming.database.transaction() as session:
            parts.generated_secret = await workspaces.ensure_secret_key(session, None)
    return parts.generated_secret


async def _site(incoming: Incoming, site_key: str) -> SiteInfo:
    site = await incoming.parts.site_cache.get(incoming.database, site_key)
    if site is None:
        raise NotFound(f"unknown siteKey {site_key}")
    if site.workspace_closed:
        raise WorkspaceClosed("this site's workspace is closed and takes no tracking")
    return site


def _writer(incoming: Incoming) -> TrackingWriter:
    return incoming.parts.writer


def _answer(answer: tracking.VisitAnswer) -> Answer:
    return _json(
        {
            "session_id": answer.visit_id,
            "visitor_id": answer.visitor_id,
            "timestamp": answer.timestamp,
            **answer.extra,
        }
    )


# Each route checks and prepares its work, then waits for the writer to commit it.


async def _start(incoming: Incoming, client: tracking.Client) -> Answer:
    start = decode_json(incoming.body, VisitStart)
    site = await _site(incoming, start.siteKey)
    secret = await _secret(incoming)
    client = dataclasses.replace(client, country=_country(incoming, client))
    work = tracking.prepare_start(site, start, client, secret, utcnow(), incoming.parts.user_agents)
    return _answer(await _writer(incoming).submit(work))


async def _event(incoming: Incoming, client: tracking.Client) -> Answer:
    single = decode_json(incoming.body, SingleEvent)
    site = await _site(incoming, single.siteKey)
    work = tracking.prepare_events(site, single.sessionId, [single], client, utcnow())
    return _answer(await _writer(incoming).submit(work))


async def _batch(incoming: Incoming, client: tracking.Client) -> Answer:
    batch = decode_json(incoming.body, EventBatch)
    site = await _site(incoming, batch.siteKey)
    work = tracking.prepare_events(site, batch.sessionId, batch.events, client, utcnow())
    return _answer(await _writer(incoming).submit(work))


async def _end(incoming: Incoming, client: tracking.Client) -> Answer:
    end = decode_json(incoming.body, VisitEnd)
    site = await _site(incoming, end.siteKey)
    work = tracking.prepare_end(site, end, client)
    return _answer(await _writer(incoming).submit(work))


ROUTES: dict[str, tuple[str, Work]] = {
    "/track/session/start": ("session/start", _start),
    "/track/event": ("event", _event),
    "/track/events/batch": ("events/batch", _batch),
    "/track/session/end": ("session/end", _end),
}
