"""A lead's status change becomes a conversions job in the same transaction.

The leads feature knows nothing of conversions: it records every status change as a
``lead_status_changes`` row, an ORM object for a change to an existing lead (the dashboard,
the APIs) and one multi-row insert for the leads a batch creates (an import of leads already
qualified or won). This watches both, and enqueues one planning job per workspace for the
changes to a status a destination may name (``open`` is not one: every new lead starts there,
and a job per capture would cost the lead path for nothing). The job commits, or not, with the
rows that caused it, and runs after the commit (tasks.py decides what, if anything, to upload).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session

from leadline.jobs import service as jobs
from leadline.kit.time import iso_millis, utcnow
from leadline.models import LeadStatusChange

PLAN = "conversions.plan"
# The statuses a destination's status map may name.
MAPPABLE_STATUSES: tuple[str, ...] = ("qualified", "won", "lost")
_TABLE = LeadStatusChange.__tablename__


def _enqueue(session: Session, changes: Iterable[Mapping[str, Any]]) -> None:
    by_workspace: dict[str, list[dict[str, str]]] = defaultdict(list)
    for change in changes:
        if change.get("to_status") not in MAPPABLE_STATUSES:
            continue
        at = change.get("changed_at")
        by_workspace[str(change["workspace_id"])].append(
            {
                "lead_id": str(change["lead_id"]),
                "status": str(change["to_status"]),
                "at": iso_millis(at if isinstance(at, datetime) else utcnow()),
            }
        )
    for workspace_id, items in by_workspace.items():
        jobs.enqueue_in_flush(session, PLAN, {"changes": items}, workspace_id=workspace_id)


@event.listens_for(Session, "before_flush")
def _status_changed(session: Session, flush_context: Any, instances: Any) -> None:
    _enqueue(
        session,
        (
            {
                "workspace_id": row.workspace_id,
                "lead_id": row.lead_id,
                "to_status": row.to_status,
                "changed_at": row.changed_at,
            }
            for row in session.new
            if isinstance(row, LeadStatusChange)
        ),
    )


@event.listens_for(Session, "do_orm_execute")
def _status_rows_inserted(state: ORMExecuteState) -> None:
    if not state.is_insert:
        return
    table = getattr(state.statement, "table", None)
    if getattr(table, "name", None) != _TABLE:
        return
    parameters = state.parameters
    rows = parameters if isinstance(parameters, list) else [parameters] if parameters else []
    _enqueue(state.session, (row for row in rows if isinstance(row, Mapping)))
