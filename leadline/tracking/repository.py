"""The ORM statements for tracked events.

The retention job reads and deletes events through ``TrackingRepository`` on an ordinary ORM
session; the tracking writer has a store of its own (``tracking.store``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import CursorResult, Select, delete, func, select

from leadline.db import Repository
from leadline.models import (
    ConsentChange,
    TrackedEvent,
    TrackingDaily,
    TrackingHourly,
    Visit,
    Visitor,
    VisitorDay,
)


class TrackingRepository(Repository):
    async def events_of_visit(
        self, visit: Visit, since: datetime, until: datetime, limit: int
    ) -> list[TrackedEvent]:
        """The newest ``limit`` events of ``visit`` received from ``since`` to ``until``:
        found along the site's events by time (no index leads with the visit, see
        TrackedEvent), so the window must hold the visit."""
        if visit.site_id is None:
            return []
        event = TrackedEvent
        return list(
            await self.session.scalars(
                select(event)
                .where(
                    event.site_id == visit.site_id,
                    event.received_at >= since,
                    event.received_at <= until,
                    event.visit_id == visit.id,
                    event.workspace_id == visit.workspace_id,
                )
                .order_by(event.received_at.desc(), event.id.desc())
                .limit(limit)
            )
        )

    async def delete_events_before(self, cutoff: datetime, batch: int) -> int:
        doomed = select(TrackedEvent.id).where(TrackedEvent.received_at < cutoff).limit(batch)
        return await self._delete(doomed)

    async def delete_site_events(self, site_id: str, batch: int) -> int:
        """Up to ``batch`` events of a site; deleting a site or its workspace calls this until
        it returns 0 first (events have no foreign key to cascade along)."""
        doomed = select(TrackedEvent.id).where(TrackedEvent.site_id == site_id).limit(batch)
        return await self._delete(doomed)

    async def delete_workspace_rows(self, workspace_id: str, batch: int) -> int:
        """Up to ``batch`` of the workspace's consent ledger entries, visitors, daily and hourly
        rollups, visitor days or visits (in that order, one table per call): a purge's share of
        tracking, after its events."""
        for model in (ConsentChange, Visitor, TrackingDaily, TrackingHourly, VisitorDay, Visit):
            removed = await self.delete_some(model, model.workspace_id == workspace_id, batch=batch)
            if removed:
                return removed
        return 0

    async def events_counted(self, site_ids: Sequence[str], first: date, end: date) -> int:
        """Events the rollups counted for these sites on the days ``first`` to ``end``
        (excluded): the ``total`` row of each site and day, read along the primary key."""
        if not site_ids:
            return 0
        total = await self.session.scalar(
            select(func.coalesce(func.sum(TrackingDaily.events), 0)).where(
                TrackingDaily.site_id.in_(site_ids),
                TrackingDaily.day >= first,
                TrackingDaily.day < end,
                TrackingDaily.dimension == "total",
                TrackingDaily.value == "",
            )
        )
        return int(total or 0)

    async def _delete(self, doomed: Select[Any]) -> int:
        result = await self.session.execute(
            delete(TrackedEvent).where(TrackedEvent.id.in_(doomed.scalar_subquery()))
        )
        return result.rowcount if isinstance(result, CursorResult) else 0

    async def visit(self, workspace_id: str, visit_id: str) -> Visit | None:
        found: Visit | None = await self.session.scalar(
            select(Visit).where(Visit.workspace_id == workspace_id, Visit.id == visit_id)
        )
        return found

    async def visits(self, workspace_id: str, visit_ids: Sequence[str]) -> list[Visit]:
        result = await self.session.scalars(
            select(Visit).where(Visit.workspace_id == workspace_id, Visit.id.in_(visit_ids))
        )
        return list(result)

    async def newest_arrival(self, workspace_id: str, site_id: str) -> datetime | None:
        """When the site's newest event arrived, or its newest visit began, whichever is
        later."""
        found = [
            _aware(moment)
            for query in newest_arrival_queries(workspace_id, site_id)
            if (moment := await self.session.scalar(query)) is not None
        ]
        return max(found) if found else None

    async def latest_visit_of(self, site_id: str, visitor_id: str) -> Visit | None:
        found: Visit | None = await self.session.scalar(
            select(Visit)
            .where(Visit.site_id == site_id, Visit.visitor_id == visitor_id)
            .order_by(Visit.started_at.desc())
            .limit(1)
        )
        return found


def newest_arrival_queries(workspace_id: str, site_id: str) -> list[Select[datetime]]:
    """The site's newest event arrival and newest visit start: each the first row of an index
    led by the site (``ix_events_site_received``, ``ix_visits_site_started``), read backwards,
    never a scan of the site's rows."""
    return [
        select(TrackedEvent.received_at)
        .where(TrackedEvent.site_id == site_id, TrackedEvent.workspace_id == workspace_id)
        .order_by(TrackedEvent.received_at.desc())
        .limit(1),
        select(Visit.started_at)
        .where(Visit.site_id == site_id, Visit.workspace_id == workspace_id)
        .order_by(Visit.started_at.desc())
        .limit(1),
    ]


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
