"""The purge of closed workspaces: once a workspace's retention period is over, every row of
it goes, a batch per transaction.

Most tables hang from ``workspaces`` by ON DELETE CASCADE, so deleting the workspace's row would
take them along, but in one transaction as large as the workspace. The large tables are emptied
first, each through its own feature's service, a batch at a time: leads (with their
submissions and status history), the submissions' rollups, tracking (events, which have no
foreign key at all, then visitors, rollups and visits), webhook events (with their deliveries
and attempts), and the audit log. The workspace's row goes last, and the small tables with
it. A purge cut short (a deploy, a crash) leaves a workspace that is still closed and due, and
the next run carries on where it stopped: every step deletes what is left.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from leadline.audit import service as audit
from leadline.db import Database
from leadline.forms import service as forms
from leadline.jobs.registry import JobContext, Periodic, periodic, task
from leadline.kit.time import utcnow
from leadline.leads import service as leads
from leadline.tracking import service as tracking
from leadline.webhooks import service as webhooks
from leadline.workspaces import service as workspaces

log = logging.getLogger(__name__)

PURGE_WORKSPACES = "workspaces.purge"

# Rows deleted per transaction: small enough that no lock is held for long (on SQLite, the
# whole database's), large enough that a million rows take a few hundred transactions.
BATCH = 2000

Step = Callable[[AsyncSession, str, int], Awaitable[int]]

# Before the workspace's own row, in this order: leads before visits, which leads point to
# (deleting a visit first would rewrite its leads' visit_id).
STEPS: tuple[tuple[str, Step], ...] = (
    ("leads", leads.delete_some_of_workspace),
    ("submission rollups", forms.delete_rollups_of_workspace),
    ("tracking", tracking.delete_some_of_workspace),
    ("webhook events", webhooks.delete_some_of_workspace),
    ("audit events", audit.delete_some_of_workspace),
)


@dataclass
class Purge:
    """What a purge of one workspace removed so far, by step, and whether it is over (the
    workspace's row gone)."""

    workspace_id: str
    slug: str
    removed: dict[str, int] = field(default_factory=dict)
    done: bool = False


async def purge_workspace(
    db: Database,
    workspace_id: str,
    slug: str,
    *,
    now: datetime,
    batch: int,
    max_batches: int | None = None,
) -> Purge:
    """Delete the closed, due workspace's rows a batch per transaction, then the workspace.
    ``max_batches`` stops after that many transactions (the rest is left for the next run)."""
    purge = Purge(workspace_id, slug)
    batches = 0
    for name, step in STEPS:
        while max_batches is None or batches < max_batches:
            async with db.transaction() as session:
                removed = await step(session, workspace_id, batch)
            batches += 1
            if not removed:
                break
            purge.removed[name] = purge.removed.get(name, 0) + removed
        else:
            return purge
    async with db.transaction() as session:
        # Events stored since the tracking step (none: a closed workspace's sites take no
        # tracking) would outlive the workspace, having no foreign key to go along.
        while late := await tracking.delete_some_of_workspace(session, workspace_id, batch):
            purge.removed["tracking"] = purge.removed.get("tracking", 0) + late
        purge.done = await workspaces.delete_if_due(session, workspace_id, now)
    return purge


async def purge_due(
    db: Database, *, now: datetime | None = None, batch: int | None = None
) -> list[Purge]:
    """Purge every closed workspace whose retention period ended by ``now``, one after the
    other, ``batch`` rows (BATCH by default) per transaction; each is logged once it is gone."""
    now = now or utcnow()
    batch = batch or BATCH
    async with db.transaction() as session:
        due = [
            (workspace.id, workspace.slug, workspace.purge_after)
            for workspace in await workspaces.due_for_purge(session, now)
        ]
    purged = []
    for workspace_id, slug, purge_after in due:
        purge = await purge_workspace(db, workspace_id, slug, now=now, batch=batch)
        if purge.done:
            log.info(
                "purged closed workspace %s (%s), due since %s; rows removed before its own: %s",
                slug,
                workspace_id,
                purge_after.isoformat() if purge_after else "-",
                ", ".join(f"{name} {count}" for name, count in purge.removed.items()) or "none",
            )
        purged.append(purge)
    return purged


@task(PURGE_WORKSPACES, max_attempts=3)
async def purge_workspaces(context: JobContext, payload: dict[str, Any]) -> None:
    """Purge the closed workspaces whose retention (LEADLINE_WORKSPACE_RETENTION_DAYS from
    their closing) is over; with ClickHouse, their events and visit starts there too."""
    purged = await purge_due(context.db)
    gone = [purge.workspace_id for purge in purged if purge.done]
    if gone and context.settings.clickhouse_url:
        await tracking.delete_workspaces_in_clickhouse(context.settings.clickhouse_url, gone)


periodic(Periodic(name=PURGE_WORKSPACES, kind=PURGE_WORKSPACES, cron="47 * * * *"))
