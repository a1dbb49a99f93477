"""Real `leadline worker` processes: killed mid-job, and two of them sharing one queue."""

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
from leadline.jobs import service as jobs
from leadline.models import Job
from tests.fixtures.database import processes_settings
from tests.fixtures.factories import run_in_transaction
from tests.fixtures.workers import stop, wait_for

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Iterator[Settings]:
    yield from processes_settings(database_url, tmp_path)


def start_worker(settings: Settings, *, concurrency: int, lease: float) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "LEADLINE_DATABASE_URL": settings.database_url,
        "LEADLINE_TASK_MODULES": "tests.jobs.tasks",
        "LEADLINE_JOBS_LEASE_SECONDS": str(lease),
        "LEADLINE_JOBS_POLL_SECONDS": "0.05",
        "LEADLINE_LOG_LEVEL": "warning",
        "PYTHONPATH": str(ROOT),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "leadline.cli", "worker", "--concurrency", str(concurrency)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def enqueue_records(settings: Settings, count: int, record: Path, sleep: float = 0) -> list[str]:
    async def work(session: AsyncSession) -> list[str]:
        payload = {"file": str(record), "sleep": sleep}
        created = await jobs.enqueue_many(session, "test.record", [payload] * count)
        return [job.id for job in created]

    return run_in_transaction(settings, work)


def states(settings: Settings) -> Counter[str]:
    """Jobs of the test task per state (the queue's own periodic jobs left out)."""

    async def work(session: AsyncSession) -> Counter[str]:
        rows = await session.execute(
            select(Job.state, func.count()).where(Job.kind == "test.record").group_by(Job.state)
        )
        return Counter({state: int(count) for state, count in rows.all()})

    return run_in_transaction(settings, work)


def attempts(settings: Settings) -> dict[str, int]:
    async def work(session: AsyncSession) -> dict[str, int]:
        rows = await session.execute(select(Job.id, Job.attempts).where(Job.kind == "test.record"))
        return {job_id: count for job_id, count in rows.all()}

    return run_in_transaction(settings, work)


def test_jobs_held_by_a_killed_worker_all_complete_after_restart(
    settings: Settings, tmp_path: Path
) -> None:
    record = tmp_path / "runs.txt"
    ids = enqueue_records(settings, 24, record, sleep=0.4)
    first = start_worker(settings, concurrency=4, lease=1.5)
    try:
        # Let it finish a few jobs and hold the next ones, then kill it without warning.
        # (All at once: under load the worker may be between a finished job and its next; and
        # with work still queued, it cannot run out of jobs to hold before the kill lands.)
        def holding() -> bool:
            if not record.exists() or len(record.read_text().splitlines()) < 4:
                return False
            now = states(settings)
            return now["running"] > 0 and now["queued"] >= 8

        wait_for(holding, [first], 60)
    finally:
        first.kill()
        first.wait(timeout=10)
    held = states(settings)["running"]
    assert held > 0, "the worker held no jobs when it was killed"

    second = start_worker(settings, concurrency=4, lease=1.5)
    try:
        wait_for(lambda: states(settings)["succeeded"] == len(ids), [second], 90)
    finally:
        stop(second)
    runs = Counter(line.split()[0] for line in record.read_text().splitlines())
    assert set(runs) == set(ids), "a job was lost"
    retried = [job_id for job_id, count in attempts(settings).items() if count == 2]
    assert len(retried) >= held  # every job the dead worker held ran again


def test_two_workers_run_every_job_exactly_once(
    settings: Settings, database_url: str, tmp_path: Path
) -> None:
    total = 10_000 if database_url.startswith("postgresql") else 1_000
    record = tmp_path / "runs.txt"
    ids = enqueue_records(settings, total, record)
    workers = [start_worker(settings, concurrency=8, lease=30) for _ in range(2)]
    try:
        wait_for(lambda: states(settings)["succeeded"] == total, workers, 300)
    finally:
        for worker in workers:
            stop(worker)
    runs = [line.split() for line in record.read_text().splitlines()]
    per_job = Counter(run[0] for run in runs)
    assert len(runs) == total
    assert set(per_job) == set(ids)
    assert set(per_job.values()) == {1}
    assert len({run[1] for run in runs}) == 2, "both workers should have taken jobs"
    assert set(attempts(settings).values()) == {1}
