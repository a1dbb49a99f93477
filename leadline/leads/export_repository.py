"""SQL for exports of leads: a workspace's leads created in a range of time, a page at a
time after a keyset (the created_at and id of the last lead read), along the index the lead
list reads in the same order."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, func, or_, select

from leadline.db import Repository
from leadline.leads.repository import Criterion, LeadRepository
from leadline.models import Lead

# The columns of an export, in order; the names are the export's.
LEAD_COLUMNS: tuple[tuple[str, Any], ...] = (
    ("id", Lead.id),
    ("created_at", Lead.created_at),
    ("updated_at", Lead.updated_at),
    ("status", Lead.status),
    ("name", Lead.name),
    ("email", Lead.email),
    ("phone", Lead.phone),
    ("value", Lead.value),
    ("currency", Lead.currency),
    ("source", Lead.source),
    ("ad_platform", Lead.ad_platform),
    ("website", Lead.website),
    ("path", Lead.path),
    ("utm_source", Lead.utm_source),
    ("utm_medium", Lead.utm_medium),
    ("utm_campaign", Lead.utm_campaign),
    ("utm_term", Lead.utm_term),
    ("utm_content", Lead.utm_content),
    ("gclid", Lead.gclid),
    ("visit_id", Lead.visit_id),
    ("qualified_at", Lead.qualified_at),
)


class LeadExportRepository(Repository):
    async def _rows(self, query: Select[Any]) -> Sequence[Any]:
        # Plain rows through the connection: the ORM's loading adds nothing to named columns
        # but time, on every row of an export.
        connection = await self.session.connection()
        rows: Sequence[Any] = (await connection.execute(query)).all()
        return rows

    async def page(
        self,
        workspace_id: str,
        start: datetime,
        end: datetime,
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> Sequence[Any]:
        """Up to ``limit`` leads created from ``start`` to ``end`` (excluded) after the
        keyset, in order of (created_at, id); each row has LEAD_COLUMNS."""
        if after is None:
            since = Lead.created_at >= start
        else:
            last, last_id = after
            since = and_(Lead.created_at >= last, or_(Lead.created_at > last, Lead.id > last_id))
        query = (
            select(*(column.label(name) for name, column in LEAD_COLUMNS))
            .where(Lead.workspace_id == workspace_id, since, Lead.created_at < end)
            .order_by(Lead.created_at, Lead.id)
            .limit(limit)
        )
        return await self._rows(query)

    async def filtered_page(
        self,
        workspace_id: str,
        criteria: Sequence[Criterion],
        search: str | None,
        before: tuple[datetime, str] | None,
        limit: int,
    ) -> Sequence[Any]:
        """Up to ``limit`` leads that the lead list's ``criteria`` and ``search`` find, newest
        first, created before the keyset ``before``; each row has LEAD_COLUMNS."""
        query = LeadRepository(self.session).matching(workspace_id, criteria, search)
        if before is not None:
            last, last_id = before
            query = query.where(
                Lead.created_at <= last, or_(Lead.created_at < last, Lead.id < last_id)
            )
        query = (
            query.with_only_columns(*(column.label(name) for name, column in LEAD_COLUMNS))
            .order_by(Lead.created_at.desc(), Lead.id.desc())
            .limit(limit)
        )
        return await self._rows(query)

    async def count(self, workspace_id: str, start: datetime, end: datetime) -> int:
        found = await self.session.scalar(
            select(func.count()).where(
                Lead.workspace_id == workspace_id,
                Lead.created_at >= start,
                Lead.created_at < end,
            )
        )
        return int(found or 0)
