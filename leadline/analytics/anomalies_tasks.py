"""The hourly anomaly check."""

from __future__ import annotations

import logging
from typing import Any

from leadline.analytics.anomalies_service import check
from leadline.jobs.registry import JobContext, Periodic, periodic, task

log = logging.getLogger(__name__)

CHECK_ANOMALIES = "analytics.anomalies_check"


@task(CHECK_ANOMALIES, max_attempts=3)
async def check_anomalies(context: JobContext, payload: dict[str, Any]) -> None:
    """Judge the hour that just ended on every site (``payload['workspace']``: one
    workspace's, by slug)."""
    changes = await check(context.db, workspace_slug=payload.get("workspace"))
    for change in changes:
        if change.outcome != "ongoing":
            log.info(
                "anomaly %s: %s %s on %s (%s)",
                change.outcome,
                change.anomaly.severity,
                change.anomaly.kind,
                change.site_label,
                change.workspace_slug,
            )


# Five minutes past: the hour just ended is complete, its stragglers written.
periodic(Periodic(name=CHECK_ANOMALIES, kind=CHECK_ANOMALIES, cron="5 * * * *"))
