"""SQL for the retention of events and visits (on an ordinary ORM session, like the events
purge; the tracking writer has a store of its own)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import CursorResult, and_, delete, func, or_, select

from leadline.db import Repository
from leadline.models import ConsentChange, TrackedEvent, Visit


class TrackingRetentionRepository(Repository):
    async def count_events_before(self, site_ids: Sequence[str], cutoff: datetime) -> int:
        if not site_ids:
            return 0
        result = await self.session.execute(
            select(func.count())
            .select_from(TrackedEvent)
            .where(TrackedEvent.site_id.in_(site_ids), TrackedEvent.received_at < cutoff)
        )
        return int(result.scalar_one())

    async def delete_events_before(self, site_id: str, cutoff: datetime, batch: int) -> int:
        """Up to ``batch`` of a site's events received before ``cutoff`` (found along the
        site's index by time)."""
        return await self.delete_some(
            TrackedEvent,
            TrackedEvent.site_id == site_id,
            TrackedEvent.received_at < cutoff,
            batch=batch,
        )

    async def count_visits_before(self, workspace_id: str, cutoff: datetime) -> int:
        result = await self.session.execute(
            select(func.count())
            .select_from(Visit)
            .where(Visit.workspace_id == workspace_id, Visit.started_at < cutoff)
        )
        return int(result.scalar_one())

    async def visit_ids_before(self, workspace_id: str, cutoff: datetime) -> list[str]:
        result = await self.session.scalars(
            select(Visit.id).where(Visit.workspace_id == workspace_id, Visit.started_at < cutoff)
        )
        return list(result)

    async def visits_before(
        self,
        workspace_id: str,
        cutoff: datetime,
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> list[Visit]:
        """Up to ``limit`` visits started before ``cutoff``, oldest first, after ``after``
        (a visit's start and id) when given."""
        query = select(Visit).where(Visit.workspace_id == workspace_id, Visit.started_at < cutoff)
        if after is not None:
            started, visit_id = after
            query = query.where(
                or_(
                    Visit.started_at > started,
                    and_(Visit.started_at == started, Visit.id > visit_id),
                )
            )
        result = await self.session.scalars(query.order_by(Visit.started_at, Visit.id).limit(limit))
        return list(result)

    async def delete_visits(
        self,
        workspace_id: str,
        visit_ids: Sequence[str],
        site_ids: Sequence[str],
        since: datetime,
        until: datetime,
    ) -> int:
        """Delete the visits, their consent ledger entries and their events still kept (events
        have no foreign key to cascade along: they are found along the sites' index by time,
        from ``since`` to ``until``, which must hold the visits)."""
        if not visit_ids:
            return 0
        if site_ids:
            await self.session.execute(
                delete(TrackedEvent).where(
                    TrackedEvent.site_id.in_(site_ids),
                    TrackedEvent.received_at >= since,
                    TrackedEvent.received_at <= until,
                    TrackedEvent.visit_id.in_(visit_ids),
                )
            )
        await self.session.execute(
            delete(ConsentChange).where(
                ConsentChange.workspace_id == workspace_id, ConsentChange.visit_id.in_(visit_ids)
            )
        )
        result: CursorResult[Any] = await self.session.execute(  # type: ignore[assignment]
            delete(Visit).where(Visit.workspace_id == workspace_id, Visit.id.in_(visit_ids))
        )
        return result.rowcount
