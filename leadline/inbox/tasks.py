"""Inbox jobs: a snoozed conversation opens when its time comes; unanswered conversations go
to the next online person after the workspace's limit."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from leadline.inbox import rules as inbox_rules
from leadline.inbox import service as inbox
from leadline.jobs.registry import JobContext, Periodic, RetryLater, periodic, task
from leadline.kit.time import parse_datetime, utcnow


@task(inbox_rules.WAKE, max_attempts=5)
async def wake_snoozed(context: JobContext, payload: dict[str, Any]) -> None:
    """Queued when a conversation is snoozed, to run at its ``snoozed_until``."""
    due = parse_datetime(str(payload["snoozed_until"]))
    async with context.db.transaction() as session:
        left = await inbox.wake(session, str(payload["conversation_id"]), due)
    if left is not None:
        raise RetryLater(left.total_seconds(), "the conversation's snooze has not ended yet")


@task(inbox_rules.REASSIGN, max_attempts=3)
async def reassign_unanswered(context: JobContext, payload: dict[str, Any]) -> None:
    """Each workspace with ``auto_reassign_minutes`` in a transaction of its own (batches of
    a few hundred conversations), so one workspace's audit chain is locked only for its own."""
    started = utcnow()
    async with context.db.transaction() as session:
        workspaces = await inbox.reassigning_workspaces(session)
    for workspace_id, minutes in workspaces:
        # Fixed for the run: a conversation handed on now is not overdue again in it.
        assigned_before = started - timedelta(minutes=minutes)
        while True:
            async with context.db.transaction() as session:
                handed = await inbox.reassign_overdue(session, workspace_id, assigned_before)
            if handed < inbox_rules.REASSIGN_BATCH:
                break


periodic(Periodic(name=inbox_rules.REASSIGN, kind=inbox_rules.REASSIGN, cron="* * * * *"))
