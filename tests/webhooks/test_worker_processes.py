"""Real `leadline worker` processes delivering batches: two of them never send one delivery
twice, and a worker killed mid-batch loses nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from leadline.config import Settings
from leadline.models import WebhookAttempt, WebhookDelivery
from tests.fixtures.database import processes_settings
from tests.fixtures.factories import run_in_transaction
from tests.fixtures.receiver import Answer, receiver
from tests.fixtures.workers import stop, wait_for
from tests.webhooks.test_batches import emit
from tests.webhooks.test_delivery import add_endpoint

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Iterator[Settings]:
    yield from processes_settings(database_url, tmp_path)


def start_worker(settings: Settings, **extra: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "LEADLINE_DATABASE_URL": settings.database_url,
        "LEADLINE_WEBHOOKS_ALLOW_PRIVATE": "1",
        "LEADLINE_JOBS_POLL_SECONDS": "0.05",
        "LEADLINE_LOG_LEVEL": "warning",
        "PYTHONPATH": str(ROOT),
        **{f"LEADLINE_{name.upper()}": value for name, value in extra.items()},
    }
    return subprocess.Popen(
        [sys.executable, "-m", "leadline.cli", "worker", "--concurrency", "4"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def counts(settings: Settings) -> Counter[str]:
    """Deliveries by state, plus ``leased``: pending ones a job holds."""

    async def work(session: AsyncSession) -> Counter[str]:
        rows = await session.execute(
            select(WebhookDelivery.state, func.count()).group_by(WebhookDelivery.state)
        )
        found = Counter({state: int(n) for state, n in rows.all()})
        found["leased"] = int(
            await session.scalar(
                select(func.count()).where(
                    WebhookDelivery.state == "pending", WebhookDelivery.locked_by.is_not(None)
                )
            )
            or 0
        )
        return found

    return run_in_transaction(settings, work)


def attempt_numbers(settings: Settings) -> Counter[int]:
    async def work(session: AsyncSession) -> Counter[int]:
        return Counter(await session.scalars(select(WebhookAttempt.number)))

    return run_in_transaction(settings, work)


def test_two_workers_send_every_delivery_once(
    hooks: Settings, database_url: str, admin_key: str
) -> None:
    total = 2000 if database_url.startswith("postgresql") else 600
    with receiver(keep_alive=True) as local:
        created = add_endpoint(hooks, admin_key, local.url)
        for _ in range(total // 100):
            emit(hooks, created.endpoint.workspace_id, 100)
        # Small batches, so that the two workers claim side by side many times.
        workers = [start_worker(hooks, webhooks_batch_size="20") for _ in range(2)]
        try:
            wait_for(lambda: counts(hooks)["delivered"] == total, workers, 300)
        finally:
            for worker in workers:
                stop(worker)
    sent = Counter(request.headers["webhook-id"] for request in local.received)
    assert len(sent) == total
    assert set(sent.values()) == {1}
    assert attempt_numbers(hooks) == Counter({1: total})


def test_a_worker_killed_mid_batch_loses_no_delivery(hooks: Settings, admin_key: str) -> None:
    total = 40
    with receiver(keep_alive=True) as local:
        created = add_endpoint(hooks, admin_key, local.url)
        local.answer(*[Answer(200, delay=0.2)] * total)  # slow enough to be caught mid-batch
        emit(hooks, created.endpoint.workspace_id, total)
        short = {"jobs_lease_seconds": "1.5", "webhooks_batch_size": "10"}
        first = start_worker(hooks, **short)
        try:
            # Killed without warning while it holds a batch, some of it already sent.
            wait_for(lambda: len(local.received) >= 3 and counts(hooks)["leased"] > 0, [first], 60)
        finally:
            first.kill()
            first.wait(timeout=10)
        held = counts(hooks)["leased"]
        assert held > 0, "the worker held no batch when it was killed"

        second = start_worker(hooks, **short)
        try:
            wait_for(lambda: counts(hooks)["delivered"] == total, [second], 120)
        finally:
            stop(second)
    assert counts(hooks) == Counter({"delivered": total})
    # Every event arrived; those the killed worker had sent may have arrived twice (at least
    # once), and each delivery's attempts were counted, the lost one included.
    sent = Counter(request.headers["webhook-id"] for request in local.received)
    assert len(sent) == total
    assert sum(sent.values()) >= total
