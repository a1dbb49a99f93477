"""The daily retention run over every workspace with a retention period set."""

from __future__ import annotations

import logging
from typing import Any

from leadline.jobs.registry import JobContext, Periodic, periodic, task
from leadline.privacy import retention

log = logging.getLogger(__name__)

APPLY_RETENTION = "privacy.retention"


@task(APPLY_RETENTION, max_attempts=3)
async def apply_retention(context: JobContext, payload: dict[str, Any]) -> None:
    """Apply each workspace's retention periods, one workspace after the other. A run cut
    short (a deploy, a crash, a failed attempt) is taken up where it stopped."""
    async with context.db.transaction() as session:
        workspace_ids = await retention.workspaces_to_run(session)
    async with retention.clickhouse_of(context.settings) as clickhouse:
        for workspace_id in workspace_ids:
            report = await retention.apply_retention(
                context.db,
                workspace_id,
                trigger="job",
                events_default_days=context.settings.events_retention_days,
                clickhouse=clickhouse,
            )
            _logged(workspace_id, report)


def _logged(workspace_id: str, report: retention.RunReport) -> None:
    log.info(
        "retention run %s of workspace %s: %s",
        report.run_id,
        workspace_id,
        ", ".join(f"{name} {count}" for name, count in sorted(report.counts.items()))
        or "nothing to remove",
    )


periodic(Periodic(name=APPLY_RETENTION, kind=APPLY_RETENTION, cron="53 2 * * *"))
