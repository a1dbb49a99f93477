"""The Leadiosa envelope: ``{"data": ...}``, lists with ``pagination``, and
``{"error": {"code", "message", "request_id"}}``.

Every error this surface answers with is rendered here, and only here.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

import msgspec
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from leadline.errors import LeadlineError, NotFound, RateLimited
from leadline.http import allowed_methods, unstorable
from leadline.kit.cursors import CursorPage
from leadline.kit.ids import request_id
from leadline.kit.ratelimit import RateStatus

log = logging.getLogger(__name__)

# Codes of the HTTP errors raised by routing and request parsing rather than by Leadline.
_HTTP_CODES = {
    400: "validation_error",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "unprocessable",
    429: "rate_limited",
}
INTERNAL_MESSAGE = "something broke on our side; quote the request_id when reporting it"

# Reused for every answer: an encoder made once skips msgspec's per-call setup.
_encoder = msgspec.json.Encoder()


# ---------------------------------------------------------------------------------- success


def omit_empty(fields: Mapping[str, Any]) -> dict[str, Any]:
    """``fields`` without the empty ones (None, "", {} and []): Leadiosa omits them."""
    return {name: value for name, value in fields.items() if value not in (None, "", {}, [])}


def json_response(
    body: Any, status_code: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(
        _encoder.encode(body),
        status_code=status_code,
        media_type="application/json",
        headers=headers,
    )


def data(item: Any, *, status_code: int = 200) -> Response:
    return json_response({"data": item}, status_code)


def page(result: CursorPage[Any], items: Iterable[dict[str, Any]]) -> Response:
    """A list answer: ``items`` (the rendered ``result.items``) and where the next page starts."""
    pagination: dict[str, Any] = {"has_more": result.has_more}
    if result.next_cursor is not None:
        pagination["next_cursor"] = result.next_cursor
    return json_response({"data": list(items), "pagination": pagination})


# ----------------------------------------------------------------------------------- errors


def rate_limit_headers(request: Request) -> dict[str, str]:
    """The X-RateLimit-* headers of the request's key, once it has been counted."""
    status: RateStatus | None = getattr(request.state, "rate_limit", None)
    return status.headers() if status is not None else {}


def _error(
    request: Request,
    status_code: int,
    code: str,
    message: str,
    headers: Mapping[str, str] | None = None,
) -> Response:
    rid = getattr(request.state, "request_id", None) or request_id()
    body = {"error": {"code": code, "message": message, "request_id": rid}}
    return json_response(body, status_code, {**rate_limit_headers(request), **(headers or {})})


def _code_of(exc: LeadlineError) -> str:
    if isinstance(exc, NotFound) and exc.resource:
        return f"{exc.resource}_not_found"
    return exc.code


async def render_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, LeadlineError) and exc.status_code < 500:
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else None
        return _error(request, exc.status_code, _code_of(exc), exc.message, headers)
    if isinstance(exc, LeadlineError) and exc.status_code != 500:
        # 503 and the like: the message is written for people and says when to come back.
        return _error(request, exc.status_code, exc.code, exc.message)
    if isinstance(exc, RequestValidationError):
        return _error(request, 400, "validation_error", _validation_message(exc))
    if isinstance(exc, StarletteHTTPException) and exc.status_code < 500:
        return _http_error(request, exc)
    if (refused := unstorable(exc)) is not None:
        return await render_error(request, refused)
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return _error(request, 500, "internal_error", INTERNAL_MESSAGE)


def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
    code = _HTTP_CODES.get(exc.status_code, "validation_error")
    headers = dict(exc.headers or {})
    if exc.status_code == 404:
        message = f"no endpoint at {request.url.path}"
    elif exc.status_code == 405:
        allowed = headers["Allow"] = allowed_methods(request)
        message = f"{request.method} is not allowed on {request.url.path}; use {allowed}"
    else:
        message = str(exc.detail)
    return _error(request, exc.status_code, code, message, headers)


def _validation_message(exc: RequestValidationError) -> str:
    """The first problem, led by the field or parameter it is about."""
    for err in exc.errors():
        if err.get("type") == "json_invalid":
            return "request body is not valid JSON"
        where = [str(part) for part in err.get("loc", ()) if part not in _LOCATIONS]
        what = str(err.get("msg", "invalid value"))
        if not where:
            return f"request body is not valid: {what}"
        return f"{'.'.join(where)}: {what}"
    return "the request is not valid"


_LOCATIONS = frozenset({"body", "query", "path", "header", "cookie"})


def install_error_handlers(app: FastAPI) -> None:
    for exc_type in (LeadlineError, RequestValidationError, StarletteHTTPException, Exception):
        app.add_exception_handler(exc_type, render_error)
