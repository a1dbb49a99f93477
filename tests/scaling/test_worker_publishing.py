"""A `leadline worker` process tells the app processes what its jobs change, through Redis: the
caches' changes (``leadline:changes``) and live events (``leadline:live:<topic>``), as a
request would. Without it a stream on a server would not hear an AI reply a job posted, and a
server would keep a site a job changed for a minute."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import redis
from sqlalchemy.ext.asyncio import AsyncSession

from leadline.config import Settings
from leadline.jobs import service as jobs
from leadline.kit import changes
from leadline.live.hub import CHANNEL_PREFIX
from tests.fixtures.factories import run_in_transaction
from tests.fixtures.workers import stop
from tests.scaling.tasks import ANNOUNCE

ROOT = Path(__file__).resolve().parents[2]


def start_worker(settings: Settings, redis_url: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "LEADLINE_DATABASE_URL": settings.database_url,
        "LEADLINE_REDIS_URL": redis_url,
        "LEADLINE_TASK_MODULES": "tests.scaling.tasks",
        "LEADLINE_JOBS_POLL_SECONDS": "0.05",
        "LEADLINE_LOG_LEVEL": "warning",
        "PYTHONPATH": str(ROOT),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "leadline.cli", "worker", "--concurrency", "1"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_workers_jobs_reach_other_processes_through_redis(
    settings: Settings, redis_url: str
) -> None:
    topic = f"ws_test:conversation:{secrets.token_hex(6)}"
    text = secrets.token_hex(8)
    change = f"test-{secrets.token_hex(6)}"
    listener = redis.Redis.from_url(redis_url)
    pubsub = listener.pubsub()
    pubsub.subscribe(changes.CHANNEL)
    pubsub.subscribe(CHANNEL_PREFIX + topic)
    worker = start_worker(settings, redis_url)
    try:

        async def work(session: AsyncSession) -> None:
            await jobs.enqueue(session, ANNOUNCE, {"topic": topic, "text": text, "change": change})

        run_in_transaction(settings, work)
        heard: dict[str, list[Any]] = {"changes": [], "live": []}
        deadline = time.monotonic() + 30
        while not (heard["live"] and heard["changes"]):
            assert worker.poll() is None, worker.stderr.read() if worker.stderr else ""
            assert time.monotonic() < deadline, f"heard only {heard}"
            message = pubsub.get_message(timeout=0.1)
            if message is None or message["type"] != "message":
                continue
            body = json.loads(message["data"])
            if message["channel"] == changes.CHANNEL.encode():
                if change in body["topics"]:
                    heard["changes"].append(body["topics"])
            elif body.get("data", {}).get("text") == text:
                heard["live"].append(body)
    finally:
        stop(worker)
        pubsub.close()
        listener.close()
    assert heard["changes"] == [[change]]
    (event,) = heard["live"]
    assert (event["topic"], event["kind"], event["id"]) == (topic, "message.created", 1)
