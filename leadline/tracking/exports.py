"""What an export asks of tracking: pages of a site's raw events and visits in a range of
time, their counts, and the sites of visits (see leadline.analytics.export)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from leadline.tracking.export_repository import (
    EVENT_COLUMNS,
    VISIT_COLUMNS,
    Keyset,
    TrackingExportRepository,
)

EVENT_FIELDS: tuple[str, ...] = tuple(name for name, _ in EVENT_COLUMNS)
VISIT_FIELDS: tuple[str, ...] = tuple(name for name, _ in VISIT_COLUMNS)


async def events_page(
    session: AsyncSession,
    workspace_id: str,
    site_id: str,
    start: datetime,
    end: datetime,
    after: Keyset,
    limit: int,
) -> Sequence[Any]:
    """Rows of EVENT_FIELDS, in order of (received_at, id); pass the last row's
    (received_at, id) as ``after`` for the next page."""
    return await TrackingExportRepository(session).events_page(
        workspace_id, site_id, start, end, after, limit
    )


async def visits_page(
    session: AsyncSession,
    workspace_id: str,
    site_id: str,
    start: datetime,
    end: datetime,
    after: Keyset,
    limit: int,
) -> Sequence[Any]:
    """Rows of VISIT_FIELDS, in order of (started_at, id); pass the last row's
    (started_at, id) as ``after`` for the next page."""
    return await TrackingExportRepository(session).visits_page(
        workspace_id, site_id, start, end, after, limit
    )


async def count_events(
    session: AsyncSession,
    workspace_id: str,
    site_ids: Sequence[str],
    start: datetime,
    end: datetime,
) -> int:
    return await TrackingExportRepository(session).count_events(workspace_id, site_ids, start, end)


async def count_visits(
    session: AsyncSession,
    workspace_id: str,
    site_ids: Sequence[str],
    start: datetime,
    end: datetime,
) -> int:
    return await TrackingExportRepository(session).count_visits(workspace_id, site_ids, start, end)


async def sites_of_visits(
    session: AsyncSession, workspace_id: str, visit_ids: Sequence[str]
) -> dict[str, str]:
    return await TrackingExportRepository(session).sites_of_visits(workspace_id, visit_ids)
