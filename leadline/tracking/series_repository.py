"""The SQL of tracking's hourly series (see tracking.series)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, union_all

from leadline.db import Repository
from leadline.kit.hours import hour_bucket, parse_bucket
from leadline.models import TrackedEvent, Visit

Span = tuple[datetime, datetime]


class SeriesRepository(Repository):
    @property
    def _dialect(self) -> str:
        return self.session.get_bind().dialect.name

    async def _by_hour(
        self, column: Any, criteria: Sequence[Any], spans: Sequence[Span]
    ) -> dict[datetime, int]:
        """Rows per hour of ``spans``: one range of the index per span, in one statement (an
        OR of the ranges would have SQLite read every row of the site)."""
        bucket = hour_bucket(column, self._dialect).label("hour")
        parts = [
            select(bucket, func.count().label("n"))
            .where(*criteria, column >= start, column < end)
            .group_by(bucket)
            for start, end in spans
        ]
        rows = await self.session.execute(union_all(*parts))
        found: dict[datetime, int] = {}
        for hour, count in rows:
            at = parse_bucket(hour)
            found[at] = found.get(at, 0) + int(count)
        return found

    async def visits_by_hour(
        self, workspace_id: str, site_id: str, spans: Sequence[Span]
    ) -> dict[datetime, int]:
        """Visits of people (not bots) started in each hour of ``spans``, along
        ``ix_visits_site_started``."""
        if not spans:
            return {}
        criteria = [
            Visit.site_id == site_id,
            Visit.workspace_id == workspace_id,
            Visit.bot_reason.is_(None),
        ]
        return await self._by_hour(Visit.started_at, criteria, spans)

    async def events_by_hour(self, site_id: str, spans: Sequence[Span]) -> dict[datetime, int]:
        """Events received in each hour of ``spans``, from ``ix_events_site_received`` alone."""
        if not spans:
            return {}
        return await self._by_hour(
            TrackedEvent.received_at, [TrackedEvent.site_id == site_id], spans
        )
