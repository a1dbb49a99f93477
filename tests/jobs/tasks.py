"""Tasks for the job tests, registered on import (``LEADLINE_TASK_MODULES=tests.jobs.tasks``
for worker processes). Each run appends ``<job id> <worker> <attempt>`` to the payload's file,
so a test can count how often every job really ran."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from leadline.jobs.registry import GiveUp, JobContext, RetryLater, task


def _record(context: JobContext, payload: dict[str, Any]) -> None:
    if "file" in payload:
        line = f"{context.job_id} {context.worker} {context.attempt}\n".encode()
        fd = os.open(payload["file"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)


@task("test.record", max_attempts=3, backoff=lambda attempt: 0.05)
async def record(context: JobContext, payload: dict[str, Any]) -> None:
    await asyncio.sleep(float(payload.get("sleep", 0)))
    _record(context, payload)


@task("test.flaky", max_attempts=4, backoff=lambda attempt: 0.05)
async def flaky(context: JobContext, payload: dict[str, Any]) -> None:
    if context.attempt <= int(payload["failures"]):
        raise RuntimeError(f"failure number {context.attempt}")
    _record(context, payload)


@task("test.give_up", max_attempts=5)
async def give_up(context: JobContext, payload: dict[str, Any]) -> None:
    raise GiveUp("the receiver is gone for good")


@task("test.later", max_attempts=5)
async def later(context: JobContext, payload: dict[str, Any]) -> None:
    raise RetryLater(float(payload["delay"]), "asked to wait")
