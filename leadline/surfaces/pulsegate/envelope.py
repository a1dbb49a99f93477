"""PulseGate's answers: the CORS headers every response carries and the one mapping of
LeadlineError to its error shape, ``{"error": "..."}`` with the status. The Starlette routes
raise and :func:`endpoint` answers; the tracking handler, plain ASGI, takes the parts of
:func:`error_parts` itself."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import msgspec
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from leadline.errors import (
    LeadlineError,
    MethodNotAllowed,
    NotFound,
    RateLimited,
    ServiceUnavailable,
    Unauthorized,
)
from leadline.http import METHODS, query_unreadable, unstorable

log = logging.getLogger(__name__)

CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers": (
        "Content-Type, X-Fingerprint-ID, X-Visitor-ID, Authorization, X-API-Key"
    ),
}
# How long a browser may keep a preflight's answer.
PREFLIGHT_MAX_AGE = "86400"


def refusal(exc: Exception) -> LeadlineError | None:
    """What ``exc`` is answered as: itself, a LeadlineError; a 400 for input no database keeps
    that got past the decoding (:func:`leadline.http.unstorable`); None for anything else."""
    return exc if isinstance(exc, LeadlineError) else unstorable(exc)


def error_parts(error: LeadlineError) -> tuple[int, dict[str, str], dict[str, str]]:
    """Status, body and extra headers of the answer to ``error``."""
    headers: dict[str, str] = {}
    if isinstance(error, RateLimited) or (
        isinstance(error, ServiceUnavailable) and error.retry_after
    ):
        headers["Retry-After"] = str(error.retry_after)
    elif isinstance(error, Unauthorized):
        headers["WWW-Authenticate"] = "Bearer"
    elif isinstance(error, MethodNotAllowed):
        headers["Allow"] = ", ".join(error.allowed)
    return error.status_code, {"error": error.message}, headers


_encoder = msgspec.json.Encoder()


def json_answer(
    payload: object,
    status: int = 200,
    headers: dict[str, str] | None = None,
    cors: dict[str, str] = CORS,
) -> Response:
    """A JSON answer of a Starlette route of the surface, with the CORS headers."""
    return Response(
        _encoder.encode(payload),
        status_code=status,
        media_type="application/json",
        headers={**cors, **(headers or {})},
    )


def error_answer(error: LeadlineError, cors: dict[str, str] = CORS) -> Response:
    status, body, headers = error_parts(error)
    return json_answer(body, status, headers, cors)


def not_routed(method: str, path: str, allowed: list[str] | None) -> LeadlineError:
    """What routing refuses: a path no route serves (404), or a method the route at ``path``
    does not take, when it takes ``allowed`` (405)."""
    if allowed is None:
        return NotFound(f"no endpoint at {path}")
    return MethodNotAllowed(method, allowed)


async def http_error(request: Request, exc: Exception) -> Response:
    """The root app's own refusals (the routes outside /api/), in PulseGate's shape."""
    assert isinstance(exc, HTTPException)
    if exc.status_code not in (404, 405):
        return json_answer({"error": str(exc.detail)}, exc.status_code, dict(exc.headers or {}))
    allow = (exc.headers or {}).get("Allow")
    allowed = None
    if allow is not None:
        named = {name.strip() for name in allow.split(",")}
        allowed = [method for method in METHODS if method in named]
    return error_answer(not_routed(request.method, request.url.path, allowed))


async def internal_error(request: Request, exc: Exception) -> Response:
    """Anything unforeseen on a route outside /api/: a 500 in PulseGate's shape, the details
    in the log only."""
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return json_answer({"error": "internal error; the request was not applied"}, 500)


Endpoint = Callable[[Request], Awaitable[Response]]


def endpoint(handler: Endpoint, cors: dict[str, str] = CORS) -> Endpoint:
    """``handler`` as a route's endpoint: a query string no database keeps, any LeadlineError
    it raises, and input it finds no database keeps are answered in PulseGate's shape, with
    ``cors``."""

    async def answer(request: Request) -> Response:
        try:
            if (unreadable := query_unreadable(request.scope)) is not None:
                raise unreadable
            return await handler(request)
        except Exception as exc:
            if (refused := refusal(exc)) is None:
                raise
            return error_answer(refused, cors)

    return answer
