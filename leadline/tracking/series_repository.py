"""The SQL of tracking's hourly series (see tracking.series)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select

from leadline.db import Repository
from leadline.kit.hours import hour_bucket, parse_bucket
from leadline.models import TrackedEvent, Visit

Span = tuple[datetime, datetime]


class SeriesRepository(Repository):
    @property
    def _dialect(self) -> str:
        return self.session.get_bind().dialect.name

    async def _by_hour(self, column: Any, criteria: Sequence[Any]) -> dict[datetime, int]:
        bucket = hour_bucket(column, self._dialect).label("hour")
        rows = await self.session.execute(
            select(bucket, func.count()).where(*criteria).group_by(bucket)
        )
        return {parse_bucket(hour): int(count) for hour, count in rows}

    async def visits_by_hour(
        self, workspace_id: str, site_id: str, spans: Sequence[Span]
    ) -> dict[datetime, int]:
        """Visits of people (not bots) started in each hour of ``spans``, along
        ``ix_visits_site_started``."""
        if not spans:
            return {}
        column = Visit.started_at
        return await self._by_hour(
            column,
            [
                Visit.site_id == site_id,
                Visit.workspace_id == workspace_id,
                Visit.bot_reason.is_(None),
                or_(*(and_(column >= start, column < end) for start, end in spans)),
            ],
        )

    async def events_by_hour(self, site_id: str, spans: Sequence[Span]) -> dict[datetime, int]:
        """Events received in each hour of ``spans``, from ``ix_events_site_received`` alone."""
        if not spans:
            return {}
        column = TrackedEvent.received_at
        return await self._by_hour(
            column,
            [
                TrackedEvent.site_id == site_id,
                or_(*(and_(column >= start, column < end) for start, end in spans)),
            ],
        )
