"""The anomalies report: ``GET /analytics/anomalies`` (``site``, ``from``, ``to``, ``tz``,
``status``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from leadline.analytics import anomalies_service as anomalies
from leadline.analytics.query import ReportQuery
from leadline.surfaces.pulsegate.reports import Report


async def anomalies_report(
    session: AsyncSession, query: ReportQuery, request: Request
) -> dict[str, Any]:
    status = anomalies.parse_status(request.query_params.get("status"))
    return await anomalies.anomalies_report(session, query, status)


ANOMALY_REPORTS: list[Report] = [Report("/analytics/anomalies", "anomalies", anomalies_report)]
