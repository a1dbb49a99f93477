"""The PulseGate tracking endpoints: plain Starlette routes decoding with msgspec.

Every answer carries the CORS headers of the PulseGate docs, errors are ``{"error": "..."}``,
and each route has its per-IP limit per minute. Bodies may be sent as ``application/json`` or as
``text/plain`` (what ``navigator.sendBeacon`` sends without a CORS preflight).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from leadline.config import Settings
from leadline.errors import (
    LeadlineError,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ServiceUnavailable,
    ValidationFailed,
)
from leadline.forms.service import SiteCache, SiteInfo
from leadline.http import database
from leadline.kit.ratelimit import RateStatus
from leadline.kit.time import utcnow
from leadline.tracking import service as tracking
from leadline.tracking.enrich import country
from leadline.tracking.limits import TrackingLimiter
from leadline.tracking.schemas import EventBatch, SessionEnd, SessionStart, SingleEvent
from leadline.tracking.writer import TrackingWriter
from leadline.workspaces import service as workspaces

log = logging.getLogger(__name__)

CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers": (
        "Content-Type, X-Fingerprint-ID, X-Visitor-ID, Authorization, X-API-Key"
    ),
}
MAX_BODY = 512 * 1024
T = TypeVar("T")
_encoder = msgspec.json.Encoder()


def _json(
    payload: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        _encoder.encode(payload),
        status_code=status,
        media_type="application/json",
        headers={**CORS, **(headers or {})},
    )


def _error(message: str, status: int, headers: dict[str, str] | None = None) -> Response:
    return _json({"error": message}, status, headers)


async def preflight(request: Request) -> Response:
    return Response(status_code=204, headers={**CORS, "Access-Control-Max-Age": "86400"})


def _client(request: Request) -> tracking.Client:
    origin = request.headers.get("origin") or request.headers.get("referer") or ""
    host = urlsplit(origin).hostname if origin and origin != "null" else None
    ip = request.client.host if request.client else ""
    return tracking.Client(
        ip=ip,
        user_agent=request.headers.get("user-agent", "")[:512],
        origin_host=host,
        dnt=request.headers.get("dnt") == "1",
        gpc=request.headers.get("sec-gpc") == "1",
    )


def _country(request: Request, client: tracking.Client) -> str | None:
    """Only a visit's start needs the country."""
    settings: Settings = request.state.settings
    trusted = request.headers.get(settings.country_header) if settings.country_header else None
    return country(client.ip, trusted)


async def _decode(request: Request, shape: type[T]) -> T:
    body = await request.body()
    if len(body) > MAX_BODY:
        raise PayloadTooLarge(f"the body is {len(body)} bytes; at most {MAX_BODY} are accepted")
    if not body:
        raise ValidationFailed("the body is empty; send a JSON object")
    # JSON can carry NUL only escaped; PostgreSQL cannot store it in text (nor in JSON).
    if b"\\u0000" in body:
        raise ValidationFailed(
            "the body contains a NUL character (\\u0000), which cannot be stored"
        )
    try:
        return msgspec.json.decode(body, type=shape)
    except msgspec.ValidationError as exc:
        raise ValidationFailed(f"invalid body: {exc}") from None
    except msgspec.DecodeError:
        raise ValidationFailed("the body is not valid JSON") from None


_secrets: dict[str, str] = {}


async def _secret(request: Request) -> str:
    settings: Settings = request.state.settings
    if settings.secret_key:
        return settings.secret_key
    if "generated" not in _secrets:
        async with database(request).transaction() as session:
            _secrets["generated"] = await workspaces.ensure_secret_key(session, None)
    return _secrets["generated"]


Handler = Callable[[Request], Awaitable[Response]]


def _route(name: str, work: Callable[[Request, tracking.Client], Awaitable[Response]]) -> Handler:
    async def endpoint(request: Request) -> Response:
        client = _client(request)
        limiter: TrackingLimiter = request.app.state.tracking_limiter
        try:
            limit = await limiter.hit(name, client.ip)
            if limit is not None and not limit.allowed:
                raise RateLimited(
                    f"too many requests to /track/{name}; retry in {limit.retry_after} s",
                    retry_after=limit.retry_after,
                )
            response = await work(request, client)
        except RateLimited as exc:
            return _error(
                exc.message, 429, {"Retry-After": str(exc.retry_after), **_limit_headers(limit)}
            )
        except ServiceUnavailable as exc:
            retry = {"Retry-After": str(exc.retry_after)} if exc.retry_after else {}
            return _error(exc.message, 503, retry)
        except LeadlineError as exc:
            return _error(exc.message, exc.status_code)
        if limit is not None:
            response.headers.update(_limit_headers(limit))
        return response

    return endpoint


def _limit_headers(limit: RateStatus | None) -> dict[str, str]:
    if limit is None:
        return {}
    return {
        "X-RateLimit-Remaining": str(limit.remaining),
        "X-RateLimit-Reset": str(limit.reset_at),
    }


async def _site(request: Request, site_key: str) -> SiteInfo:
    cache: SiteCache = request.app.state.site_cache
    site = await cache.get(database(request), site_key)
    if site is None:
        raise NotFound(f"unknown siteKey {site_key}")
    return site


def _writer(request: Request) -> TrackingWriter:
    writer: TrackingWriter = request.app.state.tracking_writer
    return writer


def _answer(answer: tracking.VisitAnswer) -> Response:
    return _json(
        {
            "session_id": answer.session_id,
            "visitor_id": answer.visitor_id,
            "timestamp": answer.timestamp,
            **answer.extra,
        }
    )


# Each route checks and prepares its work, then waits for the writer to commit it.


async def _start(request: Request, client: tracking.Client) -> Response:
    start = await _decode(request, SessionStart)
    site = await _site(request, start.siteKey)
    secret = await _secret(request)
    client = dataclasses.replace(client, country=_country(request, client))
    work = tracking.prepare_start(site, start, client, secret, utcnow())
    return _answer(await _writer(request).submit(work))


async def _event(request: Request, client: tracking.Client) -> Response:
    single = await _decode(request, SingleEvent)
    site = await _site(request, single.siteKey)
    work = tracking.prepare_events(site, single.sessionId, [single], client, utcnow())
    return _answer(await _writer(request).submit(work))


async def _batch(request: Request, client: tracking.Client) -> Response:
    batch = await _decode(request, EventBatch)
    site = await _site(request, batch.siteKey)
    work = tracking.prepare_events(site, batch.sessionId, batch.events, client, utcnow())
    return _answer(await _writer(request).submit(work))


async def _end(request: Request, client: tracking.Client) -> Response:
    end = await _decode(request, SessionEnd)
    site = await _site(request, end.siteKey)
    work = tracking.prepare_end(site, end, client)
    return _answer(await _writer(request).submit(work))


TRACKING_ROUTES = [
    Route("/track/session/start", _route("session/start", _start), methods=["POST"]),
    Route("/track/event", _route("event", _event), methods=["POST"]),
    Route("/track/events/batch", _route("events/batch", _batch), methods=["POST"]),
    Route("/track/session/end", _route("session/end", _end), methods=["POST"]),
    Route("/track/{rest:path}", preflight, methods=["OPTIONS"]),
]
