"""Assistant jobs: the reply to a contact's message, after the message commits."""

from __future__ import annotations

from typing import Any

from leadline.assistant import service as assistant
from leadline.jobs.registry import JobContext, task


@task(assistant.REPLY, max_attempts=1)
async def reply(context: JobContext, payload: dict[str, Any]) -> None:
    """Queued when a contact writes and the workspace's assistant is on."""
    if context.workspace_id is None:
        return
    await assistant.reply(context.db, context.settings, context.http, context.workspace_id, payload)
