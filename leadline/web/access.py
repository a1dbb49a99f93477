"""Who may open a dashboard page: the one check every page and htmx endpoint goes through.

``page(handler)`` makes a route's endpoint that opens the request's transaction, finds the
browser's sign-in from its cookie, refuses anyone not signed in (a page asked for in the
address bar is sent to the sign-in page; anything else gets 401), refuses a request that could
change something (any method but GET and HEAD) without the form's CSRF token, and hands the
handler the signed-in person and workspace. Handlers scope everything they read or change to
that workspace, so a person of one workspace cannot reach another's.

CSRF tokens are HMACs of the browser's own secret: the sign-in's cookie once signed in, and
before that (the sign-in and setup forms) a random cookie of its own. A page across sites can
send the cookies but cannot read them, so it cannot make the token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import quote

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from leadline.accounts import service as accounts
from leadline.accounts.service import SignedIn
from leadline.auth.roles import MASKED_ROLES, Role
from leadline.db import Database
from leadline.errors import Forbidden, Unauthorized
from leadline.people import service as people

SIGNIN_COOKIE = "leadline_signin"
FORM_COOKIE = "leadline_form"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD"})


AREAS = ("leads", "analytics", "inbox", "knowledge", "settings")
"""The dashboard's parts, as the main navigation names them."""

_AREAS_OF_ROLE: dict[str, tuple[str, ...]] = {
    "owner": AREAS,
    "admin": AREAS,
    "agent": ("leads", "analytics", "inbox", "knowledge"),
    "marketing": ("analytics",),
}


def areas_of(role: str) -> tuple[str, ...]:
    """The parts of the dashboard a person of ``role`` may open."""
    return _AREAS_OF_ROLE.get(role, ())


def require_area(who: SignedIn, area: str) -> None:
    """Refuse a person whose role does not open ``area`` (403, as a page)."""
    if area not in areas_of(who.person.role):
        raise Forbidden(f"your role ({who.person.role}) does not open {area}")


def pages_of(who: SignedIn) -> tuple[str, ...]:
    """The analytics pages (``leadline.auth.pages``) a person may open: every page for the
    workspace's operators, a marketing person's own list (the default list when they were
    given none)."""
    return people.analytics_pages(who.person)


def masked(who: SignedIn) -> bool:
    """Whether email and phone are masked on the pages this person sees."""
    return Role(who.person.role) in MASKED_ROLES


@dataclass(frozen=True)
class Viewer:
    """What pages show of who is signed in, copied out of the request's transaction: an error
    page rendered after a rollback can still show them."""

    name: str
    email: str
    role: str
    workspace_name: str
    workspace_slug: str
    signin_id: str
    areas: tuple[str, ...] = ()

    @classmethod
    def of(cls, who: SignedIn) -> Viewer:
        return cls(
            name=who.person.name,
            email=who.person.email,
            role=who.person.role,
            workspace_name=who.workspace.name,
            workspace_slug=who.workspace.slug,
            signin_id=who.signin.id,
            areas=areas_of(who.person.role),
        )


PageHandler = Callable[[Request, AsyncSession, SignedIn], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]


def csrf_token(secret: str) -> str:
    """The CSRF token of the browser holding ``secret``."""
    return hmac.new(secret.encode(), b"leadline dashboard form", hashlib.sha256).hexdigest()


async def csrf_sent_right(request: Request, secret: str | None) -> bool:
    """Whether the request carries the token of ``secret``: htmx sends it in a header, forms
    in a hidden field."""
    if not secret:
        return False
    sent: object = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        sent = (await request.form()).get(CSRF_FIELD)
    return isinstance(sent, str) and hmac.compare_digest(sent, csrf_token(secret))


def base(request: Request) -> str:
    """Where the dashboard is mounted ("/app"), as links and cookies name it."""
    root: str = request.scope.get("root_path", "")
    return root


def database(request: Request) -> Database:
    db: Database = request.state.db
    return db


def client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


def user_agent(request: Request) -> str:
    return request.headers.get("user-agent", "")


def is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


def safe_next(request: Request, value: str | None) -> str:
    """Where to go after signing in: a path of the dashboard, never another site."""
    home = base(request) + "/"
    if not value or not value.startswith(home) or value.startswith("//"):
        return home
    if any(char in value for char in "\\\r\n\t") or "//" in value:
        return home
    return value


def anonymous(request: Request) -> Response:
    """The answer to a request from no one signed in."""
    signin = base(request) + "/signin"
    if request.method in SAFE_METHODS and not is_htmx(request):
        wanted = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"{signin}?next={quote(wanted, safe='/')}", status_code=303)
    # htmx follows HX-Location on an error answer only if told: it is told in base.html.
    raise Unauthorized("sign in first", details={"signin": signin})


def page(handler: PageHandler) -> Endpoint:
    """``handler`` behind the sign-in check and the CSRF check, in one transaction."""

    async def endpoint(request: Request) -> Response:
        secret = request.cookies.get(SIGNIN_COOKIE)
        async with database(request).transaction() as session:
            who = await accounts.signed_in(session, secret)
            if who is None:
                return anonymous(request)
            if request.method not in SAFE_METHODS and not await csrf_sent_right(request, secret):
                raise Forbidden("this form has expired: reload the page and try again")
            request.state.viewer = Viewer.of(who)
            request.state.csrf = csrf_token(secret or "")
            return await handler(request, session, who)

    endpoint.__name__ = handler.__name__
    endpoint.__doc__ = handler.__doc__
    return endpoint


def form_secret(request: Request) -> tuple[str, bool]:
    """The anonymous forms' CSRF secret of this browser, and whether it is new (to be set)."""
    existing = request.cookies.get(FORM_COOKIE)
    if existing and 20 <= len(existing) <= 100:
        return existing, False
    return secrets.token_urlsafe(32), True


def set_cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    """A dashboard cookie: only for the dashboard's paths, unreadable to scripts, not sent
    with requests from other sites, and only over HTTPS when the request came so."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=base(request) or "/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


def clear_cookie(request: Request, response: Response, name: str) -> None:
    response.delete_cookie(
        name,
        path=base(request) or "/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
