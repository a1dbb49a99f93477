"""Rebuild the traffic rollups of every site from the raw visits and events: after an upgrade
from a version without hourly rollups, or after loading visits and events behind the tracking
writer's back. One transaction per site (see leadline.tracking.rebuild). With ClickHouse
keeping the events (LEADLINE_CLICKHOUSE_URL), they are counted from there."""

from __future__ import annotations

from datetime import datetime

from leadline.clickhouse.source import ClickHouseSource
from leadline.db import Database
from leadline.sites import service as sites
from leadline.tracking import rebuild
from leadline.workspaces import service as workspaces


async def rebuild_all(database: Database, start: datetime, end: datetime) -> str:
    """Rebuild every site's rollups of the UTC days that hold ``start`` to ``end``; says
    what was done."""
    first, stop = rebuild.days_between(start, end)
    async with database.transaction() as session:
        targets = [
            (workspace.id, managed.site.id, [row.domain for row in managed.domains])
            for workspace in await workspaces.list_workspaces(session)
            for managed in await sites.sites_of(session, workspace.id)
        ]
    url = database.settings.clickhouse_url
    source = ClickHouseSource(url) if url else None
    visits = events = 0
    try:
        clickhouse = await source.client() if source is not None else None
        for workspace_id, site_id, domains in targets:
            async with database.transaction() as session:
                done = await rebuild.rebuild_site(
                    session, workspace_id, site_id, domains, first, stop, clickhouse
                )
            visits += done.visits
            events += done.events
    finally:
        if source is not None:
            source.close()
    return (
        f"{len(targets)} sites, {(stop - first).days} days from {first}:"
        f" {visits} visits and {events} events counted"
        + (" (events from ClickHouse)" if source is not None else "")
    )
