"""Every SQL statement for tracked sessions and their events."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import CursorResult, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from leadline.models import TrackedEvent, VisitSession


class TrackingRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add_session(self, visit: VisitSession) -> None:
        self.session.add(visit)
        await self.session.flush()

    async def visit(self, site_id: str, session_id: str) -> VisitSession | None:
        return await self.session.scalar(
            select(VisitSession).where(
                VisitSession.id == session_id, VisitSession.site_id == site_id
            )
        )

    async def latest_visit(
        self, site_id: str, visitor_id: str, since: datetime
    ) -> VisitSession | None:
        return await self.session.scalar(
            select(VisitSession)
            .where(
                VisitSession.site_id == site_id,
                VisitSession.visitor_id == visitor_id,
                VisitSession.last_seen_at >= since,
            )
            .order_by(VisitSession.last_seen_at.desc())
            .limit(1)
        )

    async def earlier_visits(self, visit: VisitSession) -> int:
        """How many sessions the same visitor had on the site before this one."""
        if visit.visitor_id is None:
            return 0
        count = await self.session.scalar(
            select(func.count()).where(
                VisitSession.site_id == visit.site_id,
                VisitSession.visitor_id == visit.visitor_id,
                VisitSession.started_at < visit.started_at,
            )
        )
        return int(count or 0)

    async def add_events(self, rows: Sequence[dict[str, Any]]) -> set[str]:
        """Insert events, skipping any the session already has (same browser event id);
        returns the browser ids of those inserted."""
        if not rows:
            return set()
        if self.session.get_bind().dialect.name == "postgresql":
            pg = postgresql.insert(TrackedEvent).on_conflict_do_nothing(
                index_elements=[TrackedEvent.session_id, TrackedEvent.client_id]
            )
            result = await self.session.execute(pg.returning(TrackedEvent.client_id), list(rows))
        else:
            lite = sqlite.insert(TrackedEvent).on_conflict_do_nothing(
                index_elements=[TrackedEvent.session_id, TrackedEvent.client_id]
            )
            result = await self.session.execute(lite.returning(TrackedEvent.client_id), list(rows))
        return {str(row[0]) for row in result.all()}

    async def delete_events_before(self, cutoff: datetime, batch: int) -> int:
        doomed = select(TrackedEvent.id).where(TrackedEvent.received_at < cutoff).limit(batch)
        result = await self.session.execute(
            delete(TrackedEvent).where(TrackedEvent.id.in_(doomed.scalar_subquery()))
        )
        return result.rowcount if isinstance(result, CursorResult) else 0
