"""Traffic reports: overview, sessions/daily, pages/top, geo, engagement, sources, realtime and
storage (leadline.analytics.traffic answers them)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from leadline.analytics import traffic
from leadline.analytics.query import ReportQuery
from leadline.clickhouse.client import ClickHouse
from leadline.clickhouse.source import ClickHouseSource
from leadline.surfaces.pulsegate.reports import Report


def _site(request: Request) -> str | None:
    return request.query_params.get("site")


async def clickhouse_of(request: Request) -> ClickHouse | None:
    """ClickHouse when the events are kept there (LEADLINE_CLICKHOUSE_URL), else None."""
    source: ClickHouseSource | None = getattr(request.app, "clickhouse", None)
    return await source.client() if source is not None else None


def _limit(request: Request) -> int:
    return traffic.parse_limit(request.query_params.get("limit"))


async def overview(session: AsyncSession, query: ReportQuery, request: Request) -> object:
    return await traffic.overview(session, query, _site(request), await clickhouse_of(request))


async def daily(session: AsyncSession, query: ReportQuery, request: Request) -> object:
    return await traffic.daily(session, query, _site(request), await clickhouse_of(request))


async def top_pages(session: AsyncSession, query: ReportQuery, request: Request) -> object:
    return await traffic.top_pages(
        session, query, _limit(request), _site(request), await clickhouse_of(request)
    )


async def geo(session: AsyncSession, query: ReportQuery, request: Request) -> object:
    return await traffic.geo(
        session, query, _limit(request), _site(request), await clickhouse_of(request)
    )


async def engagement(session: AsyncSession, query: ReportQuery, request: Request) -> object:
    return await traffic.engagement(session, query, _site(request))


async def sources(session: AsyncSession, query: ReportQuery, request: Request) -> object:
    return await traffic.sources(
        session, query, _limit(request), _site(request), await clickhouse_of(request)
    )


async def realtime(session: AsyncSession, query: ReportQuery, request: Request) -> object:
    return await traffic.realtime(session, query, _site(request), await clickhouse_of(request))


async def storage(session: AsyncSession, query: ReportQuery, request: Request) -> object:
    retention = request.state.settings.events_retention_days
    return await traffic.storage(
        session, query, retention, _site(request), await clickhouse_of(request)
    )


TRAFFIC_REPORTS: list[Report] = [
    Report("/analytics/overview", "overview", overview),
    Report("/analytics/sessions/daily", "sessions", daily),
    Report("/analytics/pages/top", "pages", top_pages),
    Report("/analytics/geo", "geo", geo),
    Report("/analytics/engagement", "engagement", engagement),
    Report("/analytics/sources", "sources", sources),
    Report("/analytics/realtime", "realtime", realtime),
    Report("/analytics/storage", "storage", storage),
]
