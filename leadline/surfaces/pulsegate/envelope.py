"""PulseGate's answers: the CORS headers every response carries and the one mapping of
LeadlineError to its error shape, ``{"error": "..."}`` with the status. The Starlette routes
raise and :func:`endpoint` answers; the tracking handler, plain ASGI, takes the parts of
:func:`error_parts` itself."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from leadline.errors import (
    LeadlineError,
    MethodNotAllowed,
    RateLimited,
    ServiceUnavailable,
    Unauthorized,
)

CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers": (
        "Content-Type, X-Fingerprint-ID, X-Visitor-ID, Authorization, X-API-Key"
    ),
}
# How long a browser may keep a preflight's answer.
PREFLIGHT_MAX_AGE = "86400"


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


Endpoint = Callable[[Request], Awaitable[Response]]


def endpoint(handler: Endpoint, cors: dict[str, str] = CORS) -> Endpoint:
    """``handler`` as a route's endpoint: any LeadlineError it raises is answered in PulseGate's
    shape, with ``cors``."""

    async def answer(request: Request) -> Response:
        try:
            return await handler(request)
        except LeadlineError as exc:
            return error_answer(exc, cors)

    return answer
