"""The queue's own jobs: clearing out finished jobs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from leadline.jobs import service as jobs
from leadline.jobs.registry import JobContext, Periodic, periodic, task

PURGE = "jobs.purge"


@task(PURGE, max_attempts=3)
async def purge_finished_jobs(context: JobContext, payload: dict[str, Any]) -> None:
    """Delete succeeded and dead jobs past their retention, a batch per transaction."""
    settings = context.settings
    while True:
        async with context.db.transaction() as session:
            removed = await jobs.purge_finished(
                session,
                keep_succeeded=timedelta(days=settings.jobs_keep_succeeded_days),
                keep_dead=timedelta(days=settings.jobs_keep_dead_days),
            )
        if removed == 0:
            return


periodic(Periodic(name=PURGE, kind=PURGE, cron="17 * * * *"))
