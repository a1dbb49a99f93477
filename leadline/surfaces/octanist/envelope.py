"""The Octanist envelope: ``{success, data, meta}`` and ``{success:false, error, meta}``.

Every error this surface answers with is rendered here, and only here.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import msgspec
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from leadline.errors import LeadlineError, RateLimited
from leadline.http import allowed_methods, unstorable
from leadline.kit.ids import request_id
from leadline.kit.pagination import PageWindow
from leadline.kit.time import iso_millis, utcnow

log = logging.getLogger(__name__)

# Reused for every answer: an encoder made once skips msgspec's per-call setup.
_encoder = msgspec.json.Encoder()

# Leadline's error codes that Octanist names differently; everything else is upper-cased.
_CODES = {
    "payload_too_large": "VALIDATION_ERROR",
    "request_header_fields_too_large": "VALIDATION_ERROR",
    "unsupported_media_type": "VALIDATION_ERROR",
    "internal_error": "INTERNAL_ERROR",
}
_HTTP_CODES = {
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "VALIDATION_ERROR",
    409: "CONFLICT",
}


def number(value: Decimal) -> int | float:
    """An exact amount as a JSON number: whole amounts without a fraction (5000, not 5000.0)."""
    return int(value) if value == value.to_integral_value() else float(value)


def optional_number(value: Decimal | None) -> int | float | None:
    return None if value is None else number(value)


def meta(request: Request, **extra: Any) -> dict[str, Any]:
    rid = getattr(request.state, "request_id", None) or request_id()
    return {**extra, "requestId": rid, "timestamp": iso_millis(utcnow())}


def json_response(
    body: Any, status_code: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(
        _encoder.encode(body),
        status_code=status_code,
        media_type="application/json",
        headers=headers,
    )


def success(request: Request, data: Any, *, status_code: int = 200, **meta_extra: Any) -> Response:
    return json_response(
        {"success": True, "data": data, "meta": meta(request, **meta_extra)}, status_code
    )


def pagination(window: PageWindow) -> dict[str, Any]:
    """``meta.pagination`` of a list answer. Octanist's fields are numbers, with no way to
    say "at least": a total that is only a floor (a search counts up to a cap) keeps them,
    each a true floor, and adds ``totalCapped: true``; ``hasMore`` stays exact."""
    fields: dict[str, Any] = {
        "limit": window.limit,
        "page": window.page,
        "totalPages": window.total_pages,
        "total": window.total,
        "hasMore": window.has_more,
    }
    if window.total_capped:
        fields["totalCapped"] = True
    return fields


def _error(
    request: Request,
    status_code: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    body = {
        "success": False,
        "error": {"code": code, "message": message, "details": details or {}},
        "meta": meta(request),
    }
    return json_response(body, status_code, headers)


async def render_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, LeadlineError):
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else None
        code = _CODES.get(exc.code, exc.code.upper())
        return _error(request, exc.status_code, code, exc.message, exc.details, headers)
    if isinstance(exc, RequestValidationError):
        return _validation_error(request, exc)
    if isinstance(exc, StarletteHTTPException):
        code = _HTTP_CODES.get(exc.status_code, "VALIDATION_ERROR")
        status = exc.status_code if exc.status_code < 500 else 400
        # A 405 names what the path does take (RFC 9110), every method of it, not one route's.
        headers = {"Allow": allowed_methods(request)} if status == 405 else None
        return _error(request, status, code, str(exc.detail), headers=headers)
    if (refused := unstorable(exc)) is not None:
        return await render_error(request, refused)
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return _error(request, 500, "INTERNAL_ERROR", "internal error; the request was not applied")


def _validation_error(request: Request, exc: RequestValidationError) -> Response:
    problems = []
    for err in exc.errors():
        if err.get("type") == "json_invalid":
            return _error(
                request,
                400,
                "VALIDATION_ERROR",
                "request body is not valid JSON",
                {"errors": [{"field": "body", "message": str(err.get("msg", ""))}]},
            )
        location = [str(part) for part in err.get("loc", ()) if part not in ("body", "query")]
        problems.append({"field": ".".join(location) or "body", "message": err.get("msg", "")})
    first = problems[0] if problems else {"field": "body", "message": "invalid request"}
    if first["field"] == "body":
        message = f"request body is not valid: {first['message']}"
    else:
        message = f"{first['field']}: {first['message']}"
    return _error(request, 400, "VALIDATION_ERROR", message, {"errors": problems})


def install_error_handlers(app: FastAPI) -> None:
    for exc_type in (LeadlineError, RequestValidationError, StarletteHTTPException, Exception):
        app.add_exception_handler(exc_type, render_error)
