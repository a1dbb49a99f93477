"""Every SQL statement for the anomalies table."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, or_, select

from leadline.db import Repository
from leadline.models import Anomaly

OPEN, RESOLVED = "open", "resolved"


class AnomalyRepository(Repository):
    async def open_of_site(self, workspace_id: str, site_id: str) -> list[Anomaly]:
        """The site's open anomalies, locked against a check running at once."""
        result = await self.session.scalars(
            select(Anomaly)
            .where(
                Anomaly.workspace_id == workspace_id,
                Anomaly.site_id == site_id,
                Anomaly.status == OPEN,
            )
            .with_for_update()
        )
        return list(result)

    async def add(self, anomaly: Anomaly) -> None:
        self.session.add(anomaly)
        await self.session.flush()

    async def listing(
        self,
        workspace_id: str,
        site_ids: Sequence[str],
        start: datetime,
        end: datetime,
        status: str | None,
        limit: int,
    ) -> list[Anomaly]:
        """The anomalies of ``site_ids`` seen from ``start`` to ``end`` (excluded), and every
        open one; only those of ``status`` when given. Open ones first, then the latest seen."""
        if not site_ids:
            return []
        seen = and_(Anomaly.last_seen_hour >= start, Anomaly.first_seen_hour < end)
        query = select(Anomaly).where(
            Anomaly.workspace_id == workspace_id,
            Anomaly.site_id.in_(site_ids),
            or_(Anomaly.status == OPEN, seen),
        )
        if status is not None:
            query = query.where(Anomaly.status == status)
        query = query.order_by(
            (Anomaly.status == OPEN).desc(), Anomaly.last_seen_hour.desc(), Anomaly.id
        ).limit(limit)
        return list(await self.session.scalars(query))
