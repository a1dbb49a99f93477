"""A lead's status change becomes a conversions job in the same transaction.

The leads feature knows nothing of conversions: it writes a ``LeadStatusChange`` row for every
change (the dashboard, the APIs, the command line alike). Before each flush this looks for new
ones and enqueues one planning job per workspace, which commits (or not) with them and runs
after the commit (tasks.py decides what, if anything, to upload)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from leadline.jobs import service as jobs
from leadline.kit.time import iso_millis, utcnow
from leadline.models import LeadStatusChange

PLAN = "conversions.plan"


@event.listens_for(Session, "before_flush")
def _status_changed(session: Session, flush_context: Any, instances: Any) -> None:
    changes = [row for row in session.new if isinstance(row, LeadStatusChange)]
    if not changes:
        return
    by_workspace: dict[str, list[dict[str, str]]] = defaultdict(list)
    for change in changes:
        by_workspace[change.workspace_id].append(
            {
                "lead_id": change.lead_id,
                "status": change.to_status,
                "at": iso_millis(change.changed_at or utcnow()),
            }
        )
    for workspace_id, items in by_workspace.items():
        jobs.enqueue_in_flush(session, PLAN, {"changes": items}, workspace_id=workspace_id)
