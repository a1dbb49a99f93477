"""What an export asks of leads: pages of a workspace's leads created in a range of time, and
their count (see leadline.analytics.export); pages of the leads a lead list's filters find."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from leadline.leads.export_repository import LEAD_COLUMNS, LeadExportRepository
from leadline.leads.listing import CheckedQuery

LEAD_FIELDS: tuple[str, ...] = tuple(name for name, _ in LEAD_COLUMNS)


async def leads_page(
    session: AsyncSession,
    workspace_id: str,
    start: datetime,
    end: datetime,
    after: tuple[datetime, str] | None,
    limit: int,
) -> Sequence[Any]:
    """Rows of LEAD_FIELDS, in order of (created_at, id); pass the last row's
    (created_at, id) as ``after`` for the next page."""
    return await LeadExportRepository(session).page(workspace_id, start, end, after, limit)


async def count_leads(
    session: AsyncSession, workspace_id: str, start: datetime, end: datetime
) -> int:
    return await LeadExportRepository(session).count(workspace_id, start, end)


async def listed_leads_page(
    session: AsyncSession,
    workspace_id: str,
    query: CheckedQuery,
    before: tuple[datetime, str] | None,
    limit: int,
) -> Sequence[Any]:
    """Rows of LEAD_FIELDS of the leads a list ``query`` (see listing.checked_query) finds,
    newest first, in order of (created_at, id); pass the last row's (created_at, id) as
    ``before`` for the next page."""
    return await LeadExportRepository(session).filtered_page(
        workspace_id, query.criteria, query.search, before, limit
    )
