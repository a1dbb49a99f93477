"""Lead reports: the lead list and a lead's timeline, the filter options, and the engine's
submission aggregates. Each route parses its filters and answers what
leadline.analytics.submissions (or .timeline) makes of them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from leadline.analytics import submissions, timeline
from leadline.analytics.query import ReportQuery
from leadline.analytics.submissions import Filters, Scope
from leadline.surfaces.pulsegate.reports import ADMIN_ONLY, Report
from leadline.surfaces.pulsegate.traffic import clickhouse_of

PREFIX = "/analytics"


def _scope(query: ReportQuery, request: Request, *, filtered: bool = True) -> Scope:
    params = request.query_params
    # Without `site`, every site, and the submissions a backend sent without one.
    site_ids = query.site_ids if (params.get("site") or "").strip() else None
    filters = submissions.parse_filters(params) if filtered else Filters()
    return Scope(query, site_ids, filters)


Aggregate = Callable[[AsyncSession, Scope], Awaitable[dict[str, Any]]]


def _aggregate(report: Aggregate) -> Callable[..., Awaitable[object]]:
    async def handler(session: AsyncSession, query: ReportQuery, request: Request) -> object:
        return await report(session, _scope(query, request))

    return handler


def _options(column: str, key: str) -> Callable[..., Awaitable[object]]:
    async def handler(session: AsyncSession, query: ReportQuery, request: Request) -> object:
        scope = _scope(query, request, filtered=False)
        return {key: await submissions.options(session, scope, column)}

    return handler


async def _lead_list(session: AsyncSession, query: ReportQuery, request: Request) -> object:
    listing = submissions.parse_listing(request.query_params)
    return await submissions.lead_list(session, _scope(query, request), listing)


async def _lead_detail(session: AsyncSession, query: ReportQuery, request: Request) -> object:
    return await timeline.lead_timeline(
        session, query, request.path_params["lead_id"], await clickhouse_of(request)
    )


# The options before the lead's detail: routes match in order, and `projects` is no lead id.
LEAD_REPORTS: list[Report] = [
    Report(f"{PREFIX}/leads", ADMIN_ONLY, _lead_list),
    Report(f"{PREFIX}/leads/projects", "options", _options("project", "projects")),
    Report(f"{PREFIX}/leads/sources", "options", _options("source", "sources")),
    Report(f"{PREFIX}/leads/{{lead_id}}", ADMIN_ONLY, _lead_detail),
    Report(f"{PREFIX}/engine/submissions-daily", "engine", _aggregate(submissions.daily)),
    Report(f"{PREFIX}/engine/by-project", "engine", _aggregate(submissions.by_project)),
    Report(f"{PREFIX}/engine/by-source", "engine", _aggregate(submissions.by_source)),
    Report(f"{PREFIX}/engine/by-engagement", "engine", _aggregate(submissions.by_engagement)),
    Report(f"{PREFIX}/engine/overview", "engine", _aggregate(submissions.overview)),
    Report(f"{PREFIX}/engine/projects", "engine", _options("project", "projects")),
    Report(f"{PREFIX}/engine/sources", "engine", _options("source", "sources")),
]
