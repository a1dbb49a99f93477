"""A task for the scaling tests, registered on import
(``LEADLINE_TASK_MODULES=tests.scaling.tasks``): a job that changes what the app processes keep
in memory and tells live streams, as jobs that change sites or post messages do."""

from __future__ import annotations

from typing import Any

from leadline import live
from leadline.jobs.registry import JobContext, task
from leadline.kit import changes

ANNOUNCE = "test.announce"


@task(ANNOUNCE, max_attempts=1)
async def announce(context: JobContext, payload: dict[str, Any]) -> None:
    async with context.db.transaction() as session:
        # A topic of the test's own, that no other process announces.
        changes.announce(session, payload["change"])
        event = live.LiveEvent("message.created", {"text": payload["text"]}, id=1)
        live.announce(session, payload["topic"], event)
