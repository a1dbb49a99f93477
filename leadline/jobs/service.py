"""Enqueueing jobs in the caller's transaction, inspecting and replaying them, schedules."""

from __future__ import annotations

import asyncio
import json
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from croniter import croniter
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from leadline.audit import service as audit
from leadline.audit.service import Actor
from leadline.errors import Conflict, NotFound, ValidationFailed
from leadline.jobs import registry
from leadline.jobs.repository import DEAD, QUEUED, STATES, JobRepository
from leadline.kit import cursors
from leadline.kit.ids import new_id
from leadline.kit.time import utcnow
from leadline.models import Job

# ------------------------------------------------------------------------ waking workers

# Workers in this process wait on these; a commit that enqueued jobs sets them, so a job
# written by a request starts at once instead of at the next poll.
_wakeups: weakref.WeakKeyDictionary[asyncio.Event, asyncio.AbstractEventLoop] = (
    weakref.WeakKeyDictionary()
)
_ENQUEUED = "leadline.jobs.enqueued"


def register_wakeup(wakeup: asyncio.Event) -> None:
    """Have ``wakeup`` (waited on in the running event loop) set by every commit that
    enqueues jobs in this process."""
    _wakeups[wakeup] = asyncio.get_running_loop()


@event.listens_for(Session, "after_commit")
def _wake_workers(session: Session) -> None:
    if not session.info.pop(_ENQUEUED, False):
        return
    try:
        current: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        current = None
    for wakeup, loop in list(_wakeups.items()):
        if loop is current:
            wakeup.set()
        elif not loop.is_closed():
            loop.call_soon_threadsafe(wakeup.set)


@event.listens_for(Session, "after_rollback")
def _forget_enqueued(session: Session) -> None:
    session.info.pop(_ENQUEUED, None)


# ------------------------------------------------------------------------------ enqueue


def _new_job(
    kind: str,
    payload: dict[str, Any],
    *,
    workspace_id: str | None,
    run_at: datetime | None,
    max_attempts: int | None,
    now: datetime,
) -> Job:
    return Job(
        id=new_id("job"),
        workspace_id=workspace_id,
        kind=kind,
        payload=json.dumps(payload, separators=(",", ":"), default=str),
        state="queued",
        attempts=0,
        max_attempts=max_attempts or registry.max_attempts_of(kind),
        run_at=run_at or now,
        created_at=now,
        updated_at=now,
    )


async def enqueue(
    session: AsyncSession,
    kind: str,
    payload: dict[str, Any] | None = None,
    *,
    workspace_id: str | None = None,
    run_at: datetime | None = None,
    max_attempts: int | None = None,
) -> Job:
    """Write a job in the caller's transaction: it runs only if, and after, that commits."""
    job = _new_job(
        kind,
        payload or {},
        workspace_id=workspace_id,
        run_at=run_at,
        max_attempts=max_attempts,
        now=utcnow(),
    )
    await JobRepository(session).add(job)
    session.sync_session.info[_ENQUEUED] = True
    return job


def enqueue_in_flush(
    session: Session,
    kind: str,
    payload: dict[str, Any],
    *,
    workspace_id: str | None = None,
) -> Job:
    """:func:`enqueue` from a flush event (``before_flush``), where nothing can be awaited:
    the job joins the flush, so it commits, or not, with the rows that caused it."""
    job = _new_job(
        kind, payload, workspace_id=workspace_id, run_at=None, max_attempts=None, now=utcnow()
    )
    session.add(job)
    session.info[_ENQUEUED] = True
    return job


async def enqueue_many(
    session: AsyncSession,
    kind: str,
    payloads: Sequence[dict[str, Any]],
    *,
    workspace_id: str | None = None,
    max_attempts: int | None = None,
) -> list[Job]:
    now = utcnow()
    jobs = [
        _new_job(
            kind,
            payload,
            workspace_id=workspace_id,
            run_at=None,
            max_attempts=max_attempts,
            now=now,
        )
        for payload in payloads
    ]
    await JobRepository(session).add_many(jobs)
    session.sync_session.info[_ENQUEUED] = True
    return jobs


# ---------------------------------------------------------------------------- inspect


@dataclass(frozen=True)
class JobPage:
    jobs: list[Job]
    has_more: bool


def _check_state(state: str | None) -> None:
    if state is not None and state not in STATES:
        raise ValidationFailed(
            f"state must be one of {', '.join(STATES)}", details={"parameter": "state"}
        )


async def list_jobs(
    session: AsyncSession,
    *,
    state: str | None = None,
    kind: str | None = None,
    workspace_id: str | None = None,
    limit: int = 50,
    before: tuple[datetime, str] | None = None,
) -> JobPage:
    _check_state(state)
    rows = await JobRepository(session).page(
        state=state, kind=kind, workspace_id=workspace_id, limit=limit + 1, before=before
    )
    jobs, more = cursors.cut(rows, limit)
    return JobPage(jobs=jobs, has_more=more)


async def get_job(session: AsyncSession, job_id: str, *, workspace_id: str | None = None) -> Job:
    # PostgreSQL cannot hold NUL in text, so no job has it in its id: answer as for any other.
    job = None if "\x00" in job_id else await JobRepository(session).get(job_id)
    if job is None or (workspace_id is not None and job.workspace_id != workspace_id):
        raise NotFound(f"job '{job_id}' not found", details={"id": job_id}, resource="job")
    return job


async def replay(
    session: AsyncSession,
    *,
    ids: Sequence[str] = (),
    kind: str | None = None,
    workspace_id: str | None = None,
    all_dead: bool = False,
    actor: Actor | None = None,
) -> int:
    """Queue dead jobs again (these ids, or every dead job, optionally of one kind), and
    record it in the audit log of each workspace concerned."""
    if not ids and not all_dead:
        raise ValidationFailed("name the jobs to replay, or replay every dead job")
    repo = JobRepository(session)
    for job_id in ids:
        job = await get_job(session, job_id, workspace_id=workspace_id)
        if job.state != DEAD:
            raise Conflict(
                f"job '{job_id}' is {job.state}; only dead jobs are replayed",
                details={"id": job_id, "state": job.state},
            )
    concerned = await repo.dead_by_workspace(ids=ids, kind=kind, workspace_id=workspace_id)
    count = await repo.replay(
        utcnow(), ids=ids, kind=kind, workspace_id=workspace_id, all_dead=all_dead
    )
    if count:
        session.sync_session.info[_ENQUEUED] = True
    actor = actor or Actor.cli()
    for workspace, job_ids in concerned.items():
        if workspace is None:
            continue  # the queue's own jobs belong to no workspace, and to no audit chain
        if ids:
            for job_id in job_ids:
                await audit.record(
                    session,
                    workspace,
                    actor,
                    "job.replayed",
                    "job",
                    job_id,
                    {"state": (DEAD, QUEUED)},
                )
        else:
            changes: dict[str, tuple[Any, Any]] = {"replayed": (None, len(job_ids))}
            if kind is not None:
                changes["kind"] = (None, kind)
            await audit.record(session, workspace, actor, "job.replayed", "job", None, changes)
    return count


@dataclass(frozen=True, slots=True)
class QueueFigures:
    """What /metrics reports of the queue: jobs by state, and how long the oldest due job
    has waited for a worker (0 when none is due)."""

    due: int
    scheduled: int
    running: int
    dead: int
    oldest_due_seconds: float


async def queue_figures(session: AsyncSession) -> QueueFigures:
    now = utcnow()
    due, scheduled, running, dead, oldest = await JobRepository(session).queue_figures(now)
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=UTC)
    waited = max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0
    return QueueFigures(due, scheduled, running, dead, waited)


async def counts(session: AsyncSession) -> dict[str, int]:
    found = await JobRepository(session).count_by_state()
    return {state: found.get(state, 0) for state in STATES}


# --------------------------------------------------------------------------- schedules


def next_run(schedule: registry.Periodic | Any, after: datetime) -> datetime:
    if schedule.every_seconds:
        return after + timedelta(seconds=int(schedule.every_seconds))
    return croniter(str(schedule.cron), after).get_next(datetime)


async def sync_schedules(session: AsyncSession) -> None:
    """Make the schedule table hold every periodic job the code defines."""
    now = utcnow()
    rows = []
    for schedule in registry.schedules():
        rows.append(
            {
                "name": schedule.name,
                "kind": schedule.kind,
                "payload": json.dumps(schedule.payload, separators=(",", ":")),
                "every_seconds": schedule.every_seconds,
                "cron": schedule.cron,
                "enabled": True,
                "next_run_at": now,
            }
        )
    await JobRepository(session).ensure_schedules(rows)


async def enqueue_due_schedules(session: AsyncSession) -> int:
    """Enqueue one job per due schedule. Each schedule moves to its next time in the same
    transaction, guarded by its previous time, so two workers never enqueue one run twice."""
    now = utcnow()
    repo = JobRepository(session)
    enqueued = 0
    for schedule in await repo.due_schedules(now):
        # A worker that was down for a while runs a missed schedule once, not once per miss.
        then = next_run(schedule, now)
        if await repo.advance_schedule(schedule.name, schedule.next_run_at, then, now):
            await enqueue(session, schedule.kind, json.loads(schedule.payload or "{}"))
            enqueued += 1
    return enqueued


async def purge_finished(
    session: AsyncSession, *, keep_succeeded: timedelta, keep_dead: timedelta, batch: int = 5000
) -> int:
    now = utcnow()
    repo = JobRepository(session)
    removed = await repo.purge("succeeded", now - keep_succeeded, batch)
    removed += await repo.purge(DEAD, now - keep_dead, batch)
    return removed
