"""The job queue in one process: commit-bound enqueueing, running, retries, death, replay,
lost leases, schedules and retention."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner

import tests.jobs.tasks  # noqa: F401 - registers the test tasks
from leadline.config import Settings
from leadline.db import Database
from leadline.jobs import service as jobs
from leadline.jobs.registry import Periodic
from leadline.jobs.repository import JobRepository
from leadline.kit.time import utcnow
from leadline.models import Job, JobSchedule
from tests.fixtures.factories import run_in_transaction
from tests.fixtures.jobs import run_worker_until, watching_workers


@pytest.fixture
def fast(settings: Settings) -> Settings:
    """The test database, with a worker that polls often and holds short leases."""
    return Settings(database_url=settings.database_url, jobs_poll_seconds=0.05)


def enqueue(settings: Settings, kind: str, payload: dict[str, Any] | None = None) -> str:
    async def work(session: AsyncSession) -> str:
        return (await jobs.enqueue(session, kind, payload)).id

    return run_in_transaction(settings, work)


def job(settings: Settings, job_id: str) -> Job:
    async def work(session: AsyncSession) -> Job:
        found = await session.get(Job, job_id)
        assert found is not None
        return found

    return run_in_transaction(settings, work)


def all_jobs(settings: Settings) -> list[Job]:
    async def work(session: AsyncSession) -> list[Job]:
        return list(await session.scalars(select(Job).order_by(Job.created_at)))

    return run_in_transaction(settings, work)


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_a_job_exists_only_if_its_transaction_commits(settings: Settings) -> None:
    async def rolled_back(session: AsyncSession) -> None:
        await jobs.enqueue(session, "test.record", {})
        raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        run_in_transaction(settings, rolled_back)
    assert all_jobs(settings) == []
    job_id = enqueue(settings, "test.record", {"n": 1})
    stored = job(settings, job_id)
    assert (stored.kind, stored.state, stored.attempts, stored.payload) == (
        "test.record",
        "queued",
        0,
        '{"n":1}',
    )


def test_worker_runs_jobs_and_a_commit_wakes_it(fast: Settings, tmp_path: Path) -> None:
    record = tmp_path / "runs.txt"
    slow_poll = Settings(database_url=fast.database_url, jobs_poll_seconds=30)
    ids: list[str] = []

    async def enqueue_while_idle(db: Database) -> None:
        # Once the worker has found nothing and waits for its 30 s poll, only the commit's
        # wake-up can make it run the jobs within the 10 s the test allows.
        await asyncio.to_thread(watch.wait_idle)
        async with db.transaction() as session:
            for _n in range(5):
                ids.append((await jobs.enqueue(session, "test.record", {"file": str(record)})).id)

    with watching_workers() as watch:
        run_worker_until(
            slow_poll, lambda: len(lines(record)) == 5, before=enqueue_while_idle, timeout=10
        )
    assert sorted(line.split()[0] for line in lines(record)) == sorted(ids)
    assert {job(fast, job_id).state for job_id in ids} == {"succeeded"}


def test_failures_are_retried_until_success(fast: Settings, tmp_path: Path) -> None:
    record = tmp_path / "runs.txt"
    job_id = enqueue(fast, "test.flaky", {"failures": 2, "file": str(record)})
    run_worker_until(fast, lambda: job(fast, job_id).state == "succeeded")
    done = job(fast, job_id)
    assert done.attempts == 3
    assert "failure number 2" in (done.last_error or "")
    (success,) = lines(record)  # the task records only the run that succeeded
    ran, _worker, attempt = success.split()
    assert (ran, attempt) == (job_id, "3")


def test_a_job_dies_after_its_attempts_and_replay_revives_it(
    fast: Settings, tmp_path: Path
) -> None:
    record = tmp_path / "runs.txt"
    job_id = enqueue(fast, "test.flaky", {"failures": 99, "file": str(record)})
    run_worker_until(fast, lambda: job(fast, job_id).state == "dead")
    dead = job(fast, job_id)
    assert dead.attempts == dead.max_attempts == 4
    assert "failure number 4" in (dead.last_error or "")
    assert dead.finished_at is not None

    async def replay(session: AsyncSession) -> int:
        return await jobs.replay(session, ids=[job_id])

    assert run_in_transaction(fast, replay) == 1
    revived = job(fast, job_id)
    assert (revived.state, revived.attempts, revived.finished_at) == ("queued", 0, None)


def test_give_up_kills_at_once_and_retry_later_waits(fast: Settings) -> None:
    gone = enqueue(fast, "test.give_up")
    waiting = enqueue(fast, "test.later", {"delay": 3600})
    run_worker_until(
        fast, lambda: job(fast, gone).state == "dead" and job(fast, waiting).attempts == 1
    )
    assert job(fast, gone).attempts == 1
    assert "gone for good" in (job(fast, gone).last_error or "")
    later = job(fast, waiting)
    assert later.state == "queued"
    assert later.run_at > utcnow() + timedelta(minutes=55)


def test_unknown_kind_is_retried_then_dies_with_a_clear_error(fast: Settings) -> None:
    job_id = enqueue(fast, "no.such.kind")

    async def due_now(session: AsyncSession) -> None:
        await session.execute(update(Job).values(max_attempts=1))

    run_in_transaction(fast, due_now)
    run_worker_until(fast, lambda: job(fast, job_id).state == "dead")
    assert "no task runs jobs of kind 'no.such.kind'" in (job(fast, job_id).last_error or "")


def test_jobs_of_a_vanished_worker_run_again(fast: Settings, tmp_path: Path) -> None:
    record = tmp_path / "runs.txt"
    survivor = enqueue(fast, "test.record", {"file": str(record)})
    doomed = enqueue(fast, "test.record", {"file": str(record)})

    async def claimed_by_a_worker_that_died(session: AsyncSession) -> None:
        now = utcnow()
        taken = await JobRepository(session).claim("gone:1:0000", now, now, 2)
        assert len(taken) == 2
        await session.execute(
            update(Job).where(Job.id == doomed).values(attempts=3, max_attempts=3)
        )

    run_in_transaction(fast, claimed_by_a_worker_that_died)
    run_worker_until(fast, lambda: job(fast, survivor).state == "succeeded")
    assert [line.split()[0] for line in lines(record)] == [survivor]
    assert job(fast, survivor).attempts == 2  # the lost run counts
    assert job(fast, doomed).state == "dead"
    assert "stopped before finishing" in (job(fast, doomed).last_error or "")


def test_stopping_while_successes_are_recorded_keeps_them(
    fast: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = tmp_path / "runs.txt"
    job_id = enqueue(fast, "test.record", {"file": str(record)})
    recording = asyncio.Event()
    finish_many = JobRepository.finish_many

    async def slow_finish_many(self: JobRepository, *args: Any, **kwargs: Any) -> int:
        recording.set()
        await asyncio.sleep(0.3)  # the worker is told to stop while this runs
        return await finish_many(self, *args, **kwargs)

    monkeypatch.setattr(JobRepository, "finish_many", slow_finish_many)
    # The worker stops as soon as the success is being recorded, not once it is recorded.
    run_worker_until(fast, recording.is_set, timeout=10)
    assert lines(record) != []
    assert job(fast, job_id).state == "succeeded"


def test_a_late_worker_cannot_settle_a_job_it_lost(fast: Settings) -> None:
    job_id = enqueue(fast, "test.record")

    async def work(session: AsyncSession) -> tuple[bool, bool]:
        repo = JobRepository(session)
        now = utcnow()
        await repo.claim("first", now, now, 1)
        await repo.reap(now + timedelta(seconds=1))
        await repo.claim("second", now + timedelta(seconds=1), now + timedelta(minutes=1), 1)
        late = await repo.settle(job_id, "first", now, state="succeeded")
        current = await repo.settle(job_id, "second", now, state="succeeded")
        return late, current

    assert run_in_transaction(fast, work) == (False, True)


def test_a_schedule_enqueues_each_run_once(fast: Settings) -> None:
    from leadline.jobs import registry

    schedule = registry.periodic(Periodic(name="test.every", kind="test.record", every_seconds=60))
    try:

        async def work(session: AsyncSession) -> tuple[int, int, JobSchedule | None]:
            await jobs.sync_schedules(session)
            first = await jobs.enqueue_due_schedules(session)
            second = await jobs.enqueue_due_schedules(session)
            return first, second, await session.get(JobSchedule, schedule.name)

        first, second, stored = run_in_transaction(fast, work)
    finally:
        registry._PERIODIC.pop(schedule.name)
    assert stored is not None
    assert (first >= 1, second) == (True, 0)
    assert [j.kind for j in all_jobs(fast)].count("test.record") == 1
    assert stored.next_run_at > utcnow() + timedelta(seconds=55)


def test_cron_schedules_and_bad_schedules() -> None:
    from datetime import UTC, datetime

    from leadline.jobs import registry

    hourly = Periodic(name="x", kind="x", cron="17 * * * *")
    after = datetime(2026, 11, 23, 10, 20, tzinfo=UTC)
    assert jobs.next_run(hourly, after) == datetime(2026, 11, 23, 11, 17, tzinfo=UTC)
    with pytest.raises(ValueError, match="exactly one"):
        registry.periodic(Periodic(name="y", kind="y"))


def test_retention_removes_only_old_finished_jobs(fast: Settings) -> None:
    old_done, new_done, old_dead, queued = (enqueue(fast, "test.record") for _ in range(4))

    async def age(session: AsyncSession) -> int:
        now = utcnow()
        for job_id, state, days in (
            (old_done, "succeeded", 8),
            (new_done, "succeeded", 1),
            (old_dead, "dead", 31),
        ):
            await session.execute(
                update(Job)
                .where(Job.id == job_id)
                .values(state=state, finished_at=now - timedelta(days=days))
            )
        return await jobs.purge_finished(
            session, keep_succeeded=timedelta(days=7), keep_dead=timedelta(days=30)
        )

    assert run_in_transaction(fast, age) == 2
    assert sorted(j.id for j in all_jobs(fast)) == sorted([new_done, queued])


def test_cli_lists_and_replays_jobs(fast: Settings, cli: CliRunner) -> None:
    from leadline.cli import app

    dead = enqueue(fast, "test.give_up")
    run_worker_until(fast, lambda: job(fast, dead).state == "dead")
    listed = cli.invoke(app, ["jobs", "list", "--state", "dead"])
    assert listed.exit_code == 0, listed.output
    assert dead in listed.stdout
    assert "gone for good" in listed.stdout
    assert "dead=1" in listed.stderr
    bad = cli.invoke(app, ["jobs", "list", "--state", "sleeping"])
    assert bad.exit_code == 1
    assert "state must be one of" in bad.stderr
    assert cli.invoke(app, ["jobs", "replay"]).exit_code == 1
    replayed = cli.invoke(app, ["jobs", "replay", "--all-dead"])
    assert replayed.exit_code == 0
    assert "replayed 1 job" in replayed.stdout
    assert job(fast, dead).state == "queued"
    again = cli.invoke(app, ["jobs", "replay", dead])
    assert again.exit_code == 1
    assert "only dead jobs are replayed" in again.stderr


def test_serve_runs_a_worker_that_a_commit_elsewhere_wakes(
    settings: Settings, tmp_path: Path
) -> None:
    from starlette.testclient import TestClient

    from leadline.app import create_app

    record = tmp_path / "runs.txt"
    slow_poll = Settings(database_url=settings.database_url, jobs_poll_seconds=30)
    with watching_workers() as watch, TestClient(create_app(slow_poll, worker=True)) as client:
        assert client.get("/health").status_code == 200
        # Idle and waiting for its 30 s poll: only a commit's wake-up runs the job in time.
        watch.wait_idle()
        job_id = enqueue(slow_poll, "test.record", {"file": str(record)})
        deadline = time.monotonic() + 10
        while job(slow_poll, job_id).state != "succeeded":
            assert time.monotonic() < deadline, "the in-process worker did not run the job"
            time.sleep(0.05)
    assert watch.started.is_set()
    assert [line.split()[0] for line in lines(record)] == [job_id]

    # No worker unless asked for. A worker would start with the app and be stopped before its
    # shutdown ends, logging that it started either way; once the app is shut down no worker of
    # its can still come, so nothing logged then means none ran.
    with watching_workers() as watch:
        with TestClient(create_app(slow_poll)):
            queued = enqueue(slow_poll, "test.record")
        assert not watch.started.is_set()
        assert not watch.idle.is_set()
    assert job(slow_poll, queued).state == "queued"
