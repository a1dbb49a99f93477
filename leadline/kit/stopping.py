"""Stopping background tasks that wait on a socket.

A task reading from Redis (a pub/sub subscription) may lose the cancellation meant for it: the
client library can take it for its own timeout's and read on. Cancelled once, such a task
would hold the process's shutdown forever; it is cancelled again until it ends.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger(__name__)

AGAIN_AFTER_SECONDS = 0.1


async def cancel(task: asyncio.Task[Any], *, patience: float = 5.0) -> None:
    """Cancel ``task`` and wait for it to end, cancelling it again every 0.1 s while it runs;
    after ``patience`` seconds it is left running (and logged)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + patience
    while not task.done():
        if loop.time() >= deadline:
            log.warning("task %s did not stop when cancelled", task.get_name())
            return
        task.cancel()
        await asyncio.wait({task}, timeout=AGAIN_AFTER_SECONDS)
    if not task.cancelled() and (error := task.exception()) is not None:
        log.warning("task %s failed: %s", task.get_name(), error)
