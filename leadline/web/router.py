"""The dashboard's routes, mounted at /app: signing in and out, the first owner's setup, and
the pages. Every page goes through ``access.page``; a handler reads through the features'
services only, scoped to the workspace it is handed."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from leadline.accounts import service as accounts
from leadline.accounts.attempts import SignInAttempts
from leadline.accounts.service import SignedIn, Started
from leadline.errors import Forbidden, RateLimited, Unauthorized, ValidationFailed
from leadline.sites import service as sites
from leadline.web import (
    access,
    analytics,
    chat_settings,
    conversions,
    fields,
    inbox,
    inbox_stream,
    knowledge,
    leads,
    settings,
    site_settings,
)
from leadline.web.access import FORM_COOKIE, SIGNIN_COOKIE, page
from leadline.web.rendering import STATIC, render

LONGEST_SECONDS = int(accounts.LONGEST.total_seconds())
FORM_COOKIE_SECONDS = 24 * 3600


def _attempts(request: Request) -> SignInAttempts:
    attempts: SignInAttempts = request.app.state.signin_attempts
    return attempts


def _signed_in_answer(request: Request, started: Started, to: str) -> Response:
    response = RedirectResponse(to, status_code=303)
    access.set_cookie(request, response, SIGNIN_COOKIE, started.secret, LONGEST_SECONDS)
    return response


def _anonymous_form(
    request: Request, template: str, context: dict[str, object], *, status_code: int = 200
) -> Response:
    """A form for someone not signed in, with the CSRF token of this browser's form cookie
    (set now when it has none)."""
    secret, new = access.form_secret(request)
    request.state.csrf = access.csrf_token(secret)
    response = render(request, template, context, status_code=status_code)
    if new:
        access.set_cookie(request, response, FORM_COOKIE, secret, FORM_COOKIE_SECONDS)
    return response


async def _check_anonymous_form(request: Request) -> None:
    if not await access.csrf_sent_right(request, request.cookies.get(FORM_COOKIE)):
        raise Forbidden("this form has expired: reload the page and try again")


# ------------------------------------------------------------------------------ signing in


async def signin(request: Request) -> Response:
    """The sign-in form (GET) and signing in (POST)."""
    wanted = access.safe_next(request, request.query_params.get("next"))
    async with access.database(request).transaction() as session:
        if await accounts.signed_in(session, request.cookies.get(SIGNIN_COOKIE)) is not None:
            return RedirectResponse(wanted, status_code=303)
    if request.method == "GET":
        return _anonymous_form(request, "signin.html", {"next": wanted, "email": "", "error": ""})
    await _check_anonymous_form(request)
    form = await request.form()
    email = fields.text(form, "email")[:320]
    wanted = access.safe_next(request, fields.text(form, "next"))
    try:
        async with access.database(request).transaction() as session:
            started = await accounts.sign_in(
                session,
                _attempts(request),
                email,
                fields.text(form, "password"),
                ip=access.client_ip(request),
                user_agent=access.user_agent(request),
            )
    except (Unauthorized, RateLimited) as exc:
        refused = _anonymous_form(
            request,
            "signin.html",
            {"next": wanted, "email": email, "error": exc.message},
            status_code=exc.status_code,
        )
        if isinstance(exc, RateLimited):
            refused.headers["Retry-After"] = str(exc.retry_after)
        return refused
    return _signed_in_answer(request, started, wanted)


async def setup(request: Request) -> Response:
    """The first owner's account, made with the one-time token `leadline serve` printed."""
    token = request.query_params.get("token", "")
    async with access.database(request).transaction() as session:
        workspace = await accounts.setup_workspace_of(session, token)
    context: dict[str, object] = {"token": token, "workspace": workspace, "error": ""}
    if request.method == "GET":
        return _anonymous_form(
            request, "setup.html", {**context, "name": "", "email": "", "error_field": ""}
        )
    await _check_anonymous_form(request)
    form = await request.form()
    name, email = fields.text(form, "name")[:200], fields.text(form, "email")[:320]
    try:
        async with access.database(request).transaction() as session:
            started = await accounts.complete_setup(
                session,
                token,
                name=name,
                email=email,
                password=fields.text(form, "password"),
                password_again=fields.text(form, "password_again"),
                ip=access.client_ip(request),
                user_agent=access.user_agent(request),
            )
    except ValidationFailed as exc:
        return _anonymous_form(
            request,
            "setup.html",
            {
                **context,
                "name": name,
                "email": email,
                "error": exc.message,
                "error_field": (exc.details or {}).get("field", ""),
            },
            status_code=400,
        )
    return _signed_in_answer(request, started, access.base(request) + "/")


def _signed_out(request: Request) -> Response:
    response = RedirectResponse(access.base(request) + "/signin", status_code=303)
    access.clear_cookie(request, response, SIGNIN_COOKIE)
    if access.is_htmx(request):
        response.headers["HX-Redirect"] = access.base(request) + "/signin"
    return response


@page
async def sign_out(request: Request, session: AsyncSession, who: SignedIn) -> Response:
    """Sign this browser out."""
    await accounts.sign_out(session, who)
    return _signed_out(request)


@page
async def sign_out_everywhere(request: Request, session: AsyncSession, who: SignedIn) -> Response:
    """Sign the person out of every browser, this one too."""
    await accounts.sign_out_everywhere(session, who)
    return _signed_out(request)


# ------------------------------------------------------------------------------ pages


@page
async def home(request: Request, session: AsyncSession, who: SignedIn) -> Response:
    """Where a person lands: their workspace and role, what to do next, where they are
    signed in."""
    return render(
        request,
        "home.html",
        {
            "sites": await sites.sites_of(session, who.workspace.id),
            "signins": await accounts.signins_of(session, who),
            "origin": f"{request.url.scheme}://{request.url.netloc}",
        },
    )


@page
async def signins(request: Request, session: AsyncSession, who: SignedIn) -> Response:
    """The browsers signed in as this person (an htmx fragment of the home page)."""
    return render(request, "_signins.html", {"signins": await accounts.signins_of(session, who)})


@page
async def end_signin(request: Request, session: AsyncSession, who: SignedIn) -> Response:
    """Sign one other browser of this person out."""
    signin_id = request.path_params["signin_id"]
    if signin_id == who.signin.id:
        await accounts.sign_out(session, who)
        return _signed_out(request)
    await accounts.end_signin(session, who, signin_id)
    if access.is_htmx(request):
        return render(
            request, "_signins.html", {"signins": await accounts.signins_of(session, who)}
        )
    return RedirectResponse(access.base(request) + "/#signins", status_code=303)


ROUTES: list[BaseRoute] = [
    Route("/", home, methods=["GET"]),
    Route("/signin", signin, methods=["GET", "POST"]),
    Route("/setup", setup, methods=["GET", "POST"]),
    Route("/signout", sign_out, methods=["POST"]),
    Route("/signout-everywhere", sign_out_everywhere, methods=["POST"]),
    Route("/signins", signins, methods=["GET"]),
    Route("/signins/{signin_id}/end", end_signin, methods=["POST"]),
    *leads.ROUTES,
    *analytics.ROUTES,
    *inbox.ROUTES,
    *inbox_stream.ROUTES,
    *settings.ROUTES,
    *site_settings.ROUTES,
    *conversions.ROUTES,
    *chat_settings.ROUTES,
    *knowledge.ROUTES,
    Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
]
