"""The SQL of the submissions' hourly series (see forms.series)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, union_all

from leadline.db import Repository
from leadline.kit.hours import hour_bucket, parse_bucket
from leadline.models import LeadSubmission

Span = tuple[datetime, datetime]


class SubmissionSeriesRepository(Repository):
    async def by_hour_and_address(
        self, workspace_id: str, site_id: str, spans: Sequence[Span]
    ) -> list[tuple[datetime, str | None, int]]:
        """How many submissions each address sent in each hour of ``spans``, along
        ``ix_lead_submissions_site_created``."""
        if not spans:
            return []
        column = LeadSubmission.created_at
        bucket = hour_bucket(column, self.session.get_bind().dialect.name).label("hour")
        # One range of the index per span (an OR of them would read every row of the site).
        parts = [
            select(bucket, LeadSubmission.ip, func.count().label("n"))
            .where(
                LeadSubmission.site_id == site_id,
                LeadSubmission.workspace_id == workspace_id,
                column >= start,
                column < end,
            )
            .group_by(bucket, LeadSubmission.ip)
            for start, end in spans
        ]
        rows = await self.session.execute(union_all(*parts))
        return [(parse_bucket(hour), ip, int(count)) for hour, ip, count in rows]
