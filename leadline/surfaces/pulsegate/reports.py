"""The machinery every ``/analytics/*`` report route shares: the key (``Authorization: Bearer``
or ``X-API-Key``), what its role may open, the question every report takes (``site``,
``from``, ``to``, ``tz``), one read transaction, and the answer with PulseGate's CORS headers.

Pages: an admin key opens every report. A marketing key opens the pages its own list names
(``Principal.pages``; the default list when it has none); the lead list, a lead's detail and
the admin routes (marketing keys, export) are never a marketing key's. Person tokens act as
their role: owners and admins as admins; anyone without ``stats:read`` is refused.

A report module lists its routes as :class:`Report` values; :func:`report_routes` turns them
into Starlette routes (see leadline.surfaces.pulsegate.analytics).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from leadline.analytics.query import ReportQuery

# The pages are the keys' vocabulary (leadline.auth.pages), named here for the report modules.
from leadline.auth.pages import DEFAULT_MARKETING_PAGES as DEFAULT_MARKETING_PAGES
from leadline.auth.pages import PAGES as PAGES
from leadline.auth.roles import Permission, Role
from leadline.auth.service import Principal
from leadline.db import Database
from leadline.errors import Forbidden, MethodNotAllowed, NotFound, Unauthorized
from leadline.http import authenticated
from leadline.kit.periods import parse_period
from leadline.kit.time import utcnow
from leadline.sites import service as sites
from leadline.surfaces.pulsegate.envelope import CORS, PREFLIGHT_MAX_AGE, endpoint, json_answer

# The page of routes only admins open (the lead list and detail, marketing keys, export).
ADMIN_ONLY = "admin"

ReportHandler = Callable[[AsyncSession, ReportQuery, Request], Awaitable[object]]
AnswerHandler = Callable[[AsyncSession, ReportQuery, Request], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class Report:
    """One GET route: its path, the page it belongs to (or ADMIN_ONLY) and its handler, which
    returns the answer's payload (anything msgspec encodes) or, when ``raw`` is set, a
    Response of its own (a streamed export)."""

    path: str
    page: str
    handler: ReportHandler | AnswerHandler
    raw: bool = False


def _token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return (request.headers.get("x-api-key") or "").strip() or None


def pages_of(principal: Principal) -> tuple[str, ...]:
    """The pages ``principal`` may open."""
    if principal.role is Role.MARKETING:
        return principal.pages if principal.pages is not None else DEFAULT_MARKETING_PAGES
    return PAGES


def check_page(principal: Principal, page: str) -> None:
    """Forbidden unless ``principal`` may open ``page``."""
    principal.require(Permission.STATS_READ)
    if page == ADMIN_ONLY:
        if principal.role is Role.MARKETING:
            raise Forbidden(
                "a marketing key may not open this report", details={"role": principal.role.value}
            )
        return
    if page not in pages_of(principal):
        raise Forbidden(
            f"this key may not open the '{page}' page",
            details={"role": principal.role.value, "page": page},
        )


async def caller(request: Request) -> Principal:
    """The principal of the request's key; Unauthorized (401 with WWW-Authenticate) without
    a valid one."""
    token = _token(request)
    if token is None:
        raise Unauthorized(
            "missing API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'"
        )
    return await authenticated(request, token, writes=False)


async def report_query(
    session: AsyncSession, principal: Principal, request: Request
) -> ReportQuery:
    """The question of the request: ``site`` (a site's id or key; every site of the
    workspace without it), ``from``/``to`` (dates, both included; the last 30 days by
    default) and ``tz`` (an IANA name; UTC by default)."""
    params = request.query_params
    period = parse_period(params.get("from"), params.get("to"), params.get("tz"))
    site = (params.get("site") or "").strip()
    workspace_id = principal.workspace_id
    site_ids: tuple[str, ...]
    if site:
        site_ids = (await _site_id(session, workspace_id, site),)
    else:
        site_ids = tuple(await sites.site_ids_of(session, workspace_id))
    return ReportQuery(
        workspace_id=workspace_id,
        site_ids=site_ids,
        period=period,
        now=utcnow(),
        role=principal.role.value,
        pages=pages_of(principal),
        masked=principal.masks_personal_data,
    )


async def _site_id(session: AsyncSession, workspace_id: str, site: str) -> str:
    """The id of the workspace's site named by id or by key; NotFound otherwise."""
    found = await sites.site_by_key(session, site)
    if found is not None and found.workspace_id == workspace_id:
        return found.site_id
    try:
        return (await sites.managed_site(session, workspace_id, site)).site.id
    except NotFound:
        raise NotFound(f"no site {site}", resource="site") from None


def _answer(payload: object) -> Response:
    return json_answer(payload, 200, {"Cache-Control": "no-store"})


def _run(report: Report) -> Callable[[Request], Awaitable[Response]]:
    async def run(request: Request) -> Response:
        if request.method == "OPTIONS":
            return preflight(request)
        if request.method not in ("GET", "HEAD"):
            raise MethodNotAllowed(request.method, ["GET", "OPTIONS"])
        principal = await caller(request)
        check_page(principal, report.page)
        database: Database = request.state.db
        async with database.transaction() as session:
            query = await report_query(session, principal, request)
            result = await report.handler(session, query, request)
        if report.raw:
            assert isinstance(result, Response)
            return result
        return _answer(result)

    return endpoint(run, CORS)


def preflight(request: Request) -> Response:
    return Response(status_code=204, headers={**CORS, "Access-Control-Max-Age": PREFLIGHT_MAX_AGE})


_ANY = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def report_routes(reports: list[Report]) -> list[Route]:
    """Starlette routes for ``reports``; every method reaches them, so a POST is answered
    405 in PulseGate's shape."""
    return [Route(report.path, _run(report), methods=_ANY) for report in reports]
