"""The worker loop: claim due jobs, run them with a renewed lease, settle each outcome."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import socket
import time
import traceback
from datetime import timedelta
from typing import Any

import httpx

from leadline import __version__
from leadline.config import Settings
from leadline.db import Database
from leadline.jobs import registry
from leadline.jobs import service as jobs
from leadline.jobs.repository import DEAD, QUEUED, JobRepository
from leadline.kit import metrics
from leadline.kit.time import utcnow
from leadline.models import Job

log = logging.getLogger("leadline.jobs")

# How often a worker reaps expired leases and enqueues due schedules, in polls.
_HOUSEKEEPING_EVERY = 5.0
# Logged (at debug level) each time a worker claimed nothing and starts waiting. It is the one
# sign that a worker has looked and now waits: tests wait for it instead of sleeping and hoping
# the worker got that far.
IDLE_MESSAGE = "worker %s claimed nothing; waiting up to %g s for a commit, a slot or a poll"


def worker_name() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(2)}"


def _error_text(exc: BaseException) -> str:
    lines = traceback.format_exception_only(type(exc), exc)
    return "".join(lines).strip() or type(exc).__name__


class Worker:
    """Runs up to ``concurrency`` jobs at once until ``stop`` is set, then lets running jobs
    finish for ``grace`` seconds and hands back the rest (queued again, attempt not counted)."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        name: str | None = None,
        concurrency: int | None = None,
        grace: float = 10.0,
    ) -> None:
        self.db = db
        self.settings = settings
        self.name = name or worker_name()
        self.concurrency = concurrency or settings.worker_concurrency
        self.lease = timedelta(seconds=settings.jobs_lease_seconds)
        self.poll = settings.jobs_poll_seconds
        self.grace = grace
        self.wakeup = asyncio.Event()
        self.running: dict[str, asyncio.Task[None]] = {}
        self.completed = 0
        # Claim once this many slots are free (or nothing runs), so claims come in batches.
        self.claim_at = max(1, self.concurrency // 4)
        # Succeeded jobs waiting to be recorded: one statement records all that gathered
        # while the previous one ran (a crash before that only means they run again).
        self.succeeded: list[str] = []
        self.succeeded_event = asyncio.Event()
        self.closing = False
        self.resources = registry.WorkerResources()
        registry.load_tasks(settings.task_modules)

    # --------------------------------------------------------------------------- loop

    async def run(self, stop: asyncio.Event) -> None:
        log.info("worker %s started, %d at a time", self.name, self.concurrency)
        jobs.register_wakeup(self.wakeup)
        self.http = httpx.AsyncClient(
            follow_redirects=False,
            limits=httpx.Limits(max_connections=max(10, self.concurrency * 2)),
            headers={"user-agent": f"Leadline/{__version__}"},
        )
        async with self.db.transaction() as session:
            await jobs.sync_schedules(session)
        heartbeat = asyncio.create_task(self._heartbeat(stop))
        recorder = asyncio.create_task(self._record_succeeded())
        next_housekeeping = 0.0
        try:
            while not stop.is_set():
                if time.monotonic() >= next_housekeeping:
                    await self._housekeeping()
                    next_housekeeping = time.monotonic() + self.poll * _HOUSEKEEPING_EVERY
                claimed = await self._claim()
                if claimed and self.concurrency - len(self.running) >= self.claim_at:
                    continue  # there may be more due right now
                if not claimed:
                    log.debug(IDLE_MESSAGE, self.name, self.poll)
                await self._wait(stop)
        finally:
            await self._drain()
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            # The recorder is told to finish, never cancelled: a flush cut off mid-transaction
            # would leave jobs that succeeded marked running, to run again once reaped.
            self.closing = True
            self.succeeded_event.set()
            await recorder
            await self._flush_succeeded()
            await self.resources.aclose()
            await self.http.aclose()
            log.info("worker %s stopped after %d jobs", self.name, self.completed)

    async def _wait(self, stop: asyncio.Event) -> None:
        """Until a commit enqueued jobs, a slot frees up while jobs wait, stop, or the poll."""
        self.wakeup.clear()
        waiters: list[asyncio.Future[Any]] = [
            asyncio.ensure_future(self.wakeup.wait()),
            asyncio.ensure_future(stop.wait()),
        ]
        if self.running and self.concurrency - len(self.running) < self.claim_at:
            waiters.append(
                asyncio.ensure_future(
                    asyncio.wait(list(self.running.values()), return_when="FIRST_COMPLETED")
                )
            )
        try:
            await asyncio.wait(waiters, timeout=self.poll, return_when="FIRST_COMPLETED")
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def _housekeeping(self) -> None:
        try:
            async with self.db.transaction() as session:
                reaped = await JobRepository(session).reap(utcnow())
            if reaped:
                log.warning("requeued %d jobs whose worker stopped mid-run", reaped)
            async with self.db.transaction() as session:
                await jobs.enqueue_due_schedules(session)
        except Exception:  # a database hiccup must not stop the worker
            log.exception("worker housekeeping failed")

    async def _claim(self) -> int:
        free = self.concurrency - len(self.running)
        if free <= 0 or (self.running and free < self.claim_at):
            return 0
        now = utcnow()
        try:
            async with self.db.transaction() as session:
                claimed = await JobRepository(session).claim(self.name, now, now + self.lease, free)
        except Exception:
            log.exception("claiming jobs failed")
            return 0
        for job in claimed:
            task = asyncio.create_task(self._execute(job), name=f"job {job.id}")
            self.running[job.id] = task
            task.add_done_callback(self._forget)
        return len(claimed)

    def _forget(self, task: asyncio.Task[None]) -> None:
        for job_id, running in list(self.running.items()):
            if running is task:
                del self.running[job_id]

    async def _heartbeat(self, stop: asyncio.Event) -> None:
        interval = max(0.05, self.lease.total_seconds() / 3)
        while True:
            await asyncio.sleep(interval)
            if not self.running:
                continue
            try:
                async with self.db.transaction() as session:
                    await JobRepository(session).renew(
                        self.name, list(self.running), utcnow() + self.lease
                    )
            except Exception:
                log.exception("renewing job leases failed")

    async def _record_succeeded(self) -> None:
        while not self.closing:
            await self.succeeded_event.wait()
            self.succeeded_event.clear()
            await self._flush_succeeded()

    async def _flush_succeeded(self) -> None:
        batch, self.succeeded = self.succeeded, []
        if not batch:
            return
        try:
            async with self.db.transaction() as session:
                recorded = await JobRepository(session).finish_many(self.name, batch, utcnow())
        except Exception:
            log.exception("recording %d finished jobs failed; they will run again", len(batch))
            return
        self.completed += recorded
        if recorded < len(batch):
            log.warning(
                "%d jobs finished after their lease passed to another worker",
                len(batch) - recorded,
            )

    async def _drain(self) -> None:
        if not self.running:
            return
        pending = list(self.running.values())
        _, still = await asyncio.wait(pending, timeout=self.grace)
        for task in still:
            task.cancel()
        await asyncio.gather(*still, return_exceptions=True)

    # ---------------------------------------------------------------------------- run

    async def _execute(self, job: Job) -> None:
        task = registry.get_task(job.kind)
        context = registry.JobContext(
            job_id=job.id,
            kind=job.kind,
            workspace_id=job.workspace_id,
            attempt=job.attempts,
            max_attempts=job.max_attempts,
            worker=self.name,
            db=self.db,
            settings=self.settings,
            http=self.http,
            resources=self.resources,
        )
        started = time.perf_counter()
        outcome = "succeeded"
        try:
            if task is None:
                raise LookupError(f"no task runs jobs of kind {job.kind!r}")
            payload = json.loads(job.payload or "{}")
            if task.timeout:
                await asyncio.wait_for(task.run(context, payload), task.timeout)
            else:
                await task.run(context, payload)
        except asyncio.CancelledError:
            # Stopping: hand the job back without counting this attempt.
            await self._settle(job, QUEUED, run_at=utcnow(), attempts_back=1)
            raise
        except registry.GiveUp as exc:
            outcome = "dead"
            await self._settle(job, DEAD, error=_error_text(exc))
        except registry.RetryLater as exc:
            outcome = "dead" if job.attempts >= job.max_attempts else "retried"
            await self._fail(job, exc, delay=exc.delay)
        except Exception as exc:
            outcome = "dead" if job.attempts >= job.max_attempts else "retried"
            backoff = task.backoff if task else registry.exponential_backoff
            await self._fail(job, exc, delay=backoff(job.attempts))
        else:
            self.succeeded.append(job.id)
            self.succeeded_event.set()
        metrics.JOBS_RUN.labels(job.kind, outcome).inc()
        metrics.JOBS_DURATION.labels(job.kind).observe(time.perf_counter() - started)

    async def _fail(self, job: Job, exc: BaseException, *, delay: float) -> None:
        error = _error_text(exc)
        if job.attempts >= job.max_attempts:
            log.error(
                "job %s (%s) died after %d attempts: %s", job.id, job.kind, job.attempts, error
            )
            await self._settle(job, DEAD, error=error)
        else:
            log.warning("job %s (%s) attempt %d failed: %s", job.id, job.kind, job.attempts, error)
            await self._settle(job, QUEUED, run_at=utcnow() + timedelta(seconds=delay), error=error)

    async def _settle(self, job: Job, state: str, **changes: object) -> None:
        try:
            async with self.db.transaction() as session:
                held = await JobRepository(session).settle(
                    job.id,
                    self.name,
                    utcnow(),
                    state=state,
                    **changes,  # type: ignore[arg-type]
                )
        except Exception:
            log.exception("recording the outcome of job %s failed", job.id)
            return
        if not held:
            log.warning("job %s finished after its lease passed to another worker", job.id)


async def run_worker(
    settings: Settings, stop: asyncio.Event, *, concurrency: int | None = None
) -> None:
    """A worker with its own database engine, until ``stop`` is set."""
    db = Database(settings)
    try:
        await Worker(db, settings, concurrency=concurrency).run(stop)
    finally:
        await db.dispose()
