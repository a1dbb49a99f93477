"""The SQL of the hourly counts of refused tracking and capture requests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from leadline.db import Repository
from leadline.models import IngestErrorsHourly

Span = tuple[datetime, datetime]


class IngestErrorsRepository(Repository):
    async def add(self, rows: Sequence[dict[str, Any]]) -> None:
        """Add each row's ``errors`` to its (site, hour): one statement for all."""
        if not rows:
            return
        dialect = postgresql if self.session.get_bind().dialect.name == "postgresql" else sqlite
        statement = dialect.insert(IngestErrorsHourly)
        await self.session.execute(
            statement.on_conflict_do_update(
                index_elements=["site_id", "hour"],
                set_={"errors": IngestErrorsHourly.errors + statement.excluded.errors},
            ),
            list(rows),
        )

    async def by_hour(
        self, workspace_id: str, site_id: str, spans: Sequence[Span]
    ) -> dict[datetime, int]:
        if not spans:
            return {}
        hour = IngestErrorsHourly.hour
        rows = await self.session.execute(
            select(hour, IngestErrorsHourly.errors).where(
                IngestErrorsHourly.site_id == site_id,
                IngestErrorsHourly.workspace_id == workspace_id,
                or_(*(and_(hour >= start, hour < end) for start, end in spans)),
            )
        )
        return {found: int(errors) for found, errors in rows}
