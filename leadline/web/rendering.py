"""Pages as HTML: the templates, what every page is given, error pages, and the headers every
answer under /app carries."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import jinja2
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from leadline.errors import LeadlineError, RateLimited
from leadline.web import access
from leadline.web.countries import country_name

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"

_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def sentence(text: str) -> str:
    """A service's message (written lower-case, for the APIs) as a sentence on a page."""
    return text[:1].upper() + text[1:]


_ENV.filters["sentence"] = sentence
_ENV.filters["country"] = country_name

# Scripts and styles only from the dashboard's own files: no inline script, no eval, nothing
# from elsewhere; no framing.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
PAGE_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """``template`` with ``context``, and what every page uses: the dashboard's base path,
    the signed-in person (``viewer``, or None) and the CSRF token of this browser."""
    values: dict[str, Any] = {
        "base": access.base(request),
        "viewer": getattr(request.state, "viewer", None),
        "csrf": getattr(request.state, "csrf", ""),
        "csrf_field": access.CSRF_FIELD,
        "csrf_header": access.CSRF_HEADER,
        "path": request.url.path,
        **(context or {}),
    }
    body = _ENV.get_template(template).render(values)
    return HTMLResponse(body, status_code=status_code, headers=headers)


TITLES = {
    400: "That did not work",
    401: "Sign in first",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed",
    409: "Already done",
    429: "Too many attempts",
}


def error_page(request: Request, status: int, message: str, headers: dict[str, str]) -> Response:
    if status == 401 and access.is_htmx(request):
        # htmx follows this to the sign-in page instead of swapping the error in.
        headers = {**headers, "HX-Redirect": access.base(request) + "/signin"}
    return render(
        request,
        "error.html",
        {"title": TITLES.get(status, "Something went wrong"), "message": message},
        status_code=status,
        headers=headers,
    )


async def leadline_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LeadlineError)
    headers = {}
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(exc.retry_after)
    return error_page(request, exc.status_code, exc.message, headers)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = {
        404: "There is no page at this address.",
        405: "This page does not take that kind of request.",
    }.get(exc.status_code, str(exc.detail))
    return error_page(request, exc.status_code, message, dict(exc.headers or {}))


async def internal_error(request: Request, exc: Exception) -> Response:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_page(request, 500, "Something went wrong on our side; nothing was changed.", {})


class PageHeaders:
    """Adds the security headers to every answer under the dashboard, and keeps its pages
    (not its static files) out of caches: they hold personal data and CSRF tokens."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith(scope.get("root_path", "") + "/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.extend(PAGE_HEADERS)
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
