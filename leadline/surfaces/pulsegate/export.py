"""The export of events, visits and leads, streamed, for admins: ``GET /analytics/export``
with ``kind`` (events, visits, leads), ``format`` (csv, ndjson) and the reports' ``site``,
``from``, ``to`` and ``tz``. The rows are read a page at a time, each page in a transaction
of its own, while the answer is sent (leadline.analytics.export)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from leadline.analytics import export as exports
from leadline.analytics.query import ReportQuery
from leadline.db import Database
from leadline.surfaces.pulsegate.envelope import CORS
from leadline.surfaces.pulsegate.reports import ADMIN_ONLY, Report
from leadline.surfaces.pulsegate.traffic import clickhouse_of


async def export(session: AsyncSession, query: ReportQuery, request: Request) -> Response:
    params = request.query_params
    kind = exports.parse_kind(params.get("kind"))
    fmt = exports.parse_format(params.get("format", "csv"))
    spec = exports.ExportSpec(
        workspace_id=query.workspace_id,
        kind=kind,
        site_ids=query.site_ids,
        period=query.period,
        site_named=bool((params.get("site") or "").strip()),
    )
    headers = {
        **CORS,
        "Cache-Control": "no-store",
        "Content-Disposition": f'attachment; filename="{exports.filename(spec, fmt)}"',
    }
    if request.method == "HEAD":
        # The headers only: no rows are read for an answer without a body.
        return Response(media_type=exports.MEDIA_TYPES[fmt], headers=headers)
    database: Database = request.state.db
    clickhouse = await clickhouse_of(request) if kind == "events" else None
    return StreamingResponse(
        exports.stream(database, spec, fmt, clickhouse=clickhouse),
        media_type=exports.MEDIA_TYPES[fmt],
        headers=headers,
    )


EXPORT_REPORTS: list[Report] = [Report("/analytics/export", ADMIN_ONLY, export, raw=True)]
