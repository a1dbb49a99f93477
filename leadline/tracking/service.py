"""What other features ask of tracking as a whole: the events a workspace's sites tracked in a
period (billing's usage), when a site last sent anything (the dashboard's "tracking seen"), and
a closed workspace's tracking data deleted a batch at a time (the purge)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from leadline.clickhouse.client import open_clickhouse
from leadline.clickhouse.schema import ensure_tables
from leadline.sites import service as sites
from leadline.tracking import clickhouse_repository
from leadline.tracking.repository import TrackingRepository


async def events_between(session: AsyncSession, workspace_id: str, first: date, end: date) -> int:
    """Events tracked on the workspace's sites (deleted ones too) from the day ``first`` to
    the day ``end``, excluded (UTC days), as the daily rollups count them: exact, kept by the
    writer in the transaction that stores the events, and there after raw events pass their
    retention. Events of visits taken for bots are not counted."""
    site_ids = await sites.site_ids_of(session, workspace_id)
    return await TrackingRepository(session).events_counted(site_ids, first, end)


async def last_tracked(session: AsyncSession, workspace_id: str, site_id: str) -> datetime | None:
    """When the workspace's site last sent tracking data: its newest event's arrival or its
    newest visit's start, whichever is later (UTC); None when it never has. Raises NotFound
    for a site that is not the workspace's."""
    await sites.managed_site(session, workspace_id, site_id)
    return await TrackingRepository(session).newest_arrival(workspace_id, site_id)


async def last_tracked_by_site(
    session: AsyncSession, workspace_id: str, site_ids: list[str]
) -> dict[str, datetime | None]:
    """``last_tracked`` of each of the workspace's sites in ``site_ids`` (two index reads a
    site); a site of another workspace is never seen."""
    repository = TrackingRepository(session)
    return {site_id: await repository.newest_arrival(workspace_id, site_id) for site_id in site_ids}


async def delete_some_of_workspace(session: AsyncSession, workspace_id: str, batch: int) -> int:
    """Delete up to ``batch`` rows of the workspace's tracking data: events first (they have no
    foreign key to cascade along; found by site, which their index leads with), then visitors,
    daily rollups and visits. How many went: 0 once none is left. Call in a transaction of its
    own each time, until it answers 0."""
    repository = TrackingRepository(session)
    for site_id in await sites.site_ids_of(session, workspace_id):
        removed = await repository.delete_site_events(site_id, batch)
        if removed:
            return removed
    return await repository.delete_workspace_rows(workspace_id, batch)


async def delete_workspaces_in_clickhouse(
    clickhouse_url: str, workspace_ids: Sequence[str]
) -> None:
    """Delete the events and visit starts ClickHouse keeps of workspaces purged from the SQL
    database (LEADLINE_CLICKHOUSE_URL, docs/clickhouse.md)."""

    def delete() -> None:
        client = open_clickhouse(clickhouse_url)
        try:
            ensure_tables(client)
            clickhouse_repository.delete_workspaces_sync(client, workspace_ids)
        finally:
            client.close()

    await asyncio.to_thread(delete)
