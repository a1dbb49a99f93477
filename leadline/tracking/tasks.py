"""Tracking's jobs: removing raw events past their retention (visits are kept)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from leadline.jobs.registry import JobContext, Periodic, periodic, task
from leadline.kit.time import utcnow
from leadline.tracking.repository import TrackingRepository

PURGE_EVENTS = "tracking.purge_events"


@task(PURGE_EVENTS, max_attempts=3)
async def purge_events(context: JobContext, payload: dict[str, Any]) -> None:
    """Delete events received more than LEADLINE_EVENTS_RETENTION_DAYS ago, a batch per
    transaction so the database is never locked for long."""
    cutoff = utcnow() - timedelta(days=context.settings.events_retention_days)
    while True:
        async with context.db.transaction() as session:
            removed = await TrackingRepository(session).delete_events_before(cutoff, 5000)
        if removed == 0:
            return


periodic(Periodic(name=PURGE_EVENTS, kind=PURGE_EVENTS, cron="41 3 * * *"))
