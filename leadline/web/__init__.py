"""The dashboard at /app: server-rendered pages (Jinja2), htmx and uPlot from its own static
files, people signed in with a password and a cookie."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware

from leadline.accounts.attempts import SignInAttempts
from leadline.config import Settings
from leadline.errors import LeadlineError
from leadline.http import BodyLimitMiddleware
from leadline.web.rendering import PageHeaders, http_error, internal_error, leadline_error
from leadline.web.router import ROUTES

MAX_FORM_BYTES = 64 * 1024


def create_web_app(settings: Settings) -> Starlette:
    """The dashboard as an app of its own, for the root app to mount at /app: its errors are
    pages, not any API's JSON."""
    app = Starlette(
        routes=ROUTES,
        middleware=[
            Middleware(PageHeaders),
            # The pages' forms are small: a larger body is refused before it is read.
            Middleware(BodyLimitMiddleware, max_bytes=MAX_FORM_BYTES, render_error=leadline_error),
        ],
        exception_handlers={
            HTTPException: http_error,
            LeadlineError: leadline_error,
            Exception: internal_error,
        },
    )
    app.state.signin_attempts = SignInAttempts(settings.redis_url)
    return app
