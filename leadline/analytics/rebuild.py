"""Rebuild the traffic rollups of every site from the raw visits and events: after an upgrade
from a version without hourly rollups, or after loading visits and events behind the tracking
writer's back. One transaction per site (see leadline.tracking.rebuild)."""

from __future__ import annotations

from datetime import datetime

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
    visits = events = 0
    for workspace_id, site_id, domains in targets:
        async with database.transaction() as session:
            done = await rebuild.rebuild_site(session, workspace_id, site_id, domains, first, stop)
        visits += done.visits
        events += done.events
    return (
        f"{len(targets)} sites, {(stop - first).days} days from {first}:"
        f" {visits} visits and {events} events counted"
    )
