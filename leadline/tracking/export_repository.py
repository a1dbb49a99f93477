"""SQL for exports of raw tracking rows: events and visits of one site in a range of time,
a page at a time after a keyset (the time and id of the last row read), so an export of any
size reads each row once and keeps no transaction open between pages."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, func, or_, select

from leadline.db import Repository
from leadline.models import TrackedEvent, Visit

# The columns of an export, in order; the names are the export's.
EVENT_COLUMNS: tuple[tuple[str, Any], ...] = (
    ("id", TrackedEvent.id),
    ("site_id", TrackedEvent.site_id),
    ("visit_id", TrackedEvent.visit_id),
    ("type", TrackedEvent.type),
    ("occurred_at", TrackedEvent.occurred_at),
    ("received_at", TrackedEvent.received_at),
    ("url", TrackedEvent.url),
    ("data", TrackedEvent.data),
)
VISIT_COLUMNS: tuple[tuple[str, Any], ...] = (
    ("id", Visit.id),
    ("site_id", Visit.site_id),
    ("visitor_id", Visit.visitor_id),
    ("started_at", Visit.started_at),
    ("last_seen_at", Visit.last_seen_at),
    ("ended_at", Visit.ended_at),
    ("channel", Visit.channel),
    ("referrer", Visit.referrer),
    ("website", Visit.website),
    ("path", Visit.path),
    ("utm_source", Visit.utm_source),
    ("utm_medium", Visit.utm_medium),
    ("utm_campaign", Visit.utm_campaign),
    ("utm_term", Visit.utm_term),
    ("utm_content", Visit.utm_content),
    ("country", Visit.country),
    ("language", Visit.language),
    ("browser", Visit.browser),
    ("os", Visit.os),
    ("device", Visit.device),
    ("page_views", Visit.page_views),
    ("events", Visit.events),
    ("clicks", Visit.clicks),
    ("max_scroll", Visit.max_scroll),
    ("duration_ms", Visit.duration_ms),
    ("engagement_score", Visit.engagement_score),
    ("engagement_label", Visit.engagement_label),
    ("bot_reason", Visit.bot_reason),
)

# After the time and id of the last row read (None: from the start).
Keyset = tuple[datetime, Any] | None


def _after(moment: Any, ident: Any, start: datetime, after: Keyset) -> Any:
    """The range condition of a page: from ``start``, or past the keyset ``after``. The
    plain bound on the time lets either database seek its index to the page's first row."""
    if after is None:
        return moment >= start
    last, last_id = after
    return and_(moment >= last, or_(moment > last, ident > last_id))


class TrackingExportRepository(Repository):
    async def _rows(self, query: Select[Any]) -> Sequence[Any]:
        # Plain rows through the connection: the ORM's loading adds nothing to named columns
        # but time, on every row of an export.
        connection = await self.session.connection()
        rows: Sequence[Any] = (await connection.execute(query)).all()
        return rows

    async def _page(
        self,
        model: Any,
        columns: Sequence[tuple[str, Any]],
        at: Any,
        where: tuple[str, str, datetime, datetime],
        after: Keyset,
        limit: int,
    ) -> Sequence[Any]:
        """Up to ``limit`` rows of ``model`` of one site, ``at`` from start to end (excluded),
        after the keyset, in order of (``at``, id); each row has ``columns``."""
        workspace_id, site_id, start, end = where
        query = (
            select(*(column.label(name) for name, column in columns))
            .where(
                model.site_id == site_id,
                model.workspace_id == workspace_id,
                _after(at, model.id, start, after),
                at < end,
            )
            .order_by(at, model.id)
            .limit(limit)
        )
        return await self._rows(query)

    async def events_page(
        self,
        workspace_id: str,
        site_id: str,
        start: datetime,
        end: datetime,
        after: Keyset,
        limit: int,
    ) -> Sequence[Any]:
        """Events received from ``start`` to ``end``, in order of (received_at, id)."""
        where = (workspace_id, site_id, start, end)
        at = TrackedEvent.received_at
        return await self._page(TrackedEvent, EVENT_COLUMNS, at, where, after, limit)

    async def visits_page(
        self,
        workspace_id: str,
        site_id: str,
        start: datetime,
        end: datetime,
        after: Keyset,
        limit: int,
    ) -> Sequence[Any]:
        """Visits started from ``start`` to ``end``, in order of (started_at, id)."""
        where = (workspace_id, site_id, start, end)
        return await self._page(Visit, VISIT_COLUMNS, Visit.started_at, where, after, limit)

    async def _count(
        self,
        model: Any,
        at: Any,
        workspace_id: str,
        site_ids: Sequence[str],
        span: tuple[datetime, datetime],
    ) -> int:
        """How many rows of ``model`` the sites have with ``at`` in ``span`` (end excluded)."""
        if not site_ids:
            return 0
        start, end = span
        found = await self.session.scalar(
            select(func.count()).where(
                model.site_id.in_(site_ids),
                model.workspace_id == workspace_id,
                at >= start,
                at < end,
            )
        )
        return int(found or 0)

    async def count_events(
        self, workspace_id: str, site_ids: Sequence[str], start: datetime, end: datetime
    ) -> int:
        at = TrackedEvent.received_at
        return await self._count(TrackedEvent, at, workspace_id, site_ids, (start, end))

    async def count_visits(
        self, workspace_id: str, site_ids: Sequence[str], start: datetime, end: datetime
    ) -> int:
        return await self._count(Visit, Visit.started_at, workspace_id, site_ids, (start, end))

    async def sites_of_visits(self, workspace_id: str, visit_ids: Sequence[str]) -> dict[str, str]:
        """The site of each of these visits of the workspace that has one."""
        if not visit_ids:
            return {}
        rows = await self.session.execute(
            select(Visit.id, Visit.site_id).where(
                Visit.workspace_id == workspace_id,
                Visit.id.in_(visit_ids),
                Visit.site_id.is_not(None),
            )
        )
        return {row.id: row.site_id for row in rows}
