"""Every SQL statement for jobs and job schedules."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import CursorResult, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from leadline.db import Repository
from leadline.models import Job, JobSchedule

QUEUED, RUNNING, SUCCEEDED, DEAD = "queued", "running", "succeeded", "dead"
STATES = (QUEUED, RUNNING, SUCCEEDED, DEAD)


def _changed(result: object) -> int:
    return result.rowcount if isinstance(result, CursorResult) else 0


class JobRepository(Repository):
    @property
    def _postgresql(self) -> bool:
        return self.session.get_bind().dialect.name == "postgresql"

    async def add(self, job: Job) -> None:
        self.session.add(job)
        await self.session.flush()

    async def add_many(self, jobs: Sequence[Job]) -> None:
        self.session.add_all(jobs)
        await self.session.flush()

    async def claim(self, worker: str, now: datetime, until: datetime, limit: int) -> list[Job]:
        """Take up to ``limit`` due jobs for ``worker``, oldest first. On PostgreSQL rows another
        worker is taking at the same moment are skipped, not waited for; SQLite lets one writer
        in at a time, so the same statement is safe there as it is."""
        due = (
            select(Job.id)
            .where(Job.state == QUEUED, Job.run_at <= now)
            .order_by(Job.run_at)
            .limit(limit)
        )
        if self._postgresql:
            due = due.with_for_update(skip_locked=True)
        result = await self.session.scalars(
            update(Job)
            .where(Job.id.in_(due.scalar_subquery()))
            .values(
                state=RUNNING,
                locked_by=worker,
                locked_until=until,
                attempts=Job.attempts + 1,
                updated_at=now,
            )
            .returning(Job),
            execution_options={"synchronize_session": False},
        )
        return sorted(result.all(), key=lambda job: job.run_at)

    async def renew(self, worker: str, ids: Sequence[str], until: datetime) -> None:
        if ids:
            await self.session.execute(
                update(Job)
                .where(Job.id.in_(ids), Job.locked_by == worker, Job.state == RUNNING)
                .values(locked_until=until)
            )

    async def settle(
        self,
        job_id: str,
        worker: str,
        now: datetime,
        *,
        state: str,
        run_at: datetime | None = None,
        error: str | None = None,
        attempts_back: int = 0,
    ) -> bool:
        """End ``worker``'s hold on a job: done, dead, or queued again (at ``run_at``). False
        when the worker no longer held it (its lease ran out and another worker took it)."""
        values: dict[str, object] = {
            "state": state,
            "locked_by": None,
            "locked_until": None,
            "updated_at": now,
        }
        if state in (SUCCEEDED, DEAD):
            values["finished_at"] = now
        if run_at is not None:
            values["run_at"] = run_at
        if error is not None:
            values["last_error"] = error[:4000]
        if attempts_back:
            values["attempts"] = Job.attempts - attempts_back
        result = await self.session.execute(
            update(Job)
            .where(Job.id == job_id, Job.locked_by == worker, Job.state == RUNNING)
            .values(**values)
        )
        return _changed(result) == 1

    async def finish_many(self, worker: str, ids: Sequence[str], now: datetime) -> int:
        """Record jobs ``worker`` ran to success; returns how many it still held."""
        result = await self.session.execute(
            update(Job)
            .where(Job.id.in_(ids), Job.locked_by == worker, Job.state == RUNNING)
            .values(
                state=SUCCEEDED, locked_by=None, locked_until=None, updated_at=now, finished_at=now
            )
        )
        return _changed(result)

    async def reap(self, now: datetime) -> int:
        """Jobs whose worker stopped renewing its lease: queued again, or dead when they have
        used every attempt (a job that keeps killing its worker must not run forever)."""
        expired = (Job.state == RUNNING, Job.locked_until < now)
        note = "the worker running this job stopped before finishing it"
        dead = await self.session.execute(
            update(Job)
            .where(*expired, Job.attempts >= Job.max_attempts)
            .values(state=DEAD, locked_by=None, locked_until=None, finished_at=now, last_error=note)
        )
        queued = await self.session.execute(
            update(Job)
            .where(*expired)
            .values(state=QUEUED, locked_by=None, locked_until=None, run_at=now, last_error=note)
        )
        return _changed(dead) + _changed(queued)

    async def get(self, job_id: str) -> Job | None:
        return await self.session.get(Job, job_id)

    async def page(
        self,
        *,
        state: str | None,
        kind: str | None,
        workspace_id: str | None,
        limit: int,
        before: tuple[datetime, str] | None = None,
    ) -> list[Job]:
        """Newest first; ``before`` is the (created_at, id) of the last job of the previous
        page."""
        query = select(Job).order_by(Job.created_at.desc(), Job.id.desc()).limit(limit)
        if state:
            query = query.where(Job.state == state)
        if kind:
            query = query.where(Job.kind == kind)
        if workspace_id:
            query = query.where(Job.workspace_id == workspace_id)
        if before:
            created, job_id = before
            query = query.where(
                (Job.created_at < created) | ((Job.created_at == created) & (Job.id < job_id))
            )
        return list(await self.session.scalars(query))

    async def replay(
        self,
        now: datetime,
        *,
        ids: Sequence[str] = (),
        kind: str | None = None,
        workspace_id: str | None = None,
        all_dead: bool = False,
    ) -> int:
        """Queue dead jobs again with a fresh set of attempts; their last error stays."""
        if not ids and not all_dead:
            return 0
        query = update(Job).where(Job.state == DEAD)
        if ids:
            query = query.where(Job.id.in_(ids))
        if kind:
            query = query.where(Job.kind == kind)
        if workspace_id:
            query = query.where(Job.workspace_id == workspace_id)
        result = await self.session.execute(
            query.values(state=QUEUED, attempts=0, run_at=now, finished_at=None, updated_at=now)
        )
        return _changed(result)

    async def dead_by_workspace(
        self, *, ids: Sequence[str], kind: str | None, workspace_id: str | None
    ) -> dict[str | None, list[str]]:
        """The dead jobs a replay with these filters would take, by workspace."""
        query = select(Job.workspace_id, Job.id).where(Job.state == DEAD)
        if ids:
            query = query.where(Job.id.in_(ids))
        if kind:
            query = query.where(Job.kind == kind)
        if workspace_id:
            query = query.where(Job.workspace_id == workspace_id)
        found: dict[str | None, list[str]] = {}
        for workspace, job_id in (await self.session.execute(query.order_by(Job.id))).all():
            found.setdefault(workspace, []).append(job_id)
        return found

    async def purge(self, state: str, finished_before: datetime, batch: int) -> int:
        doomed = (
            select(Job.id).where(Job.state == state, Job.finished_at < finished_before).limit(batch)
        )
        result = await self.session.execute(delete(Job).where(Job.id.in_(doomed.scalar_subquery())))
        return _changed(result)

    async def queue_figures(self, now: datetime) -> tuple[int, int, int, int, datetime | None]:
        """Due and scheduled queued jobs, running and dead ones, and when the oldest due job
        became due: each count is one walk of a partial index (or of the state's range in
        ``ix_jobs_state_finished``), cheap enough for every scrape of /metrics."""
        queued_due = (Job.state == QUEUED, Job.run_at <= now)
        due = select(func.count()).where(*queued_due).scalar_subquery()
        oldest = select(func.min(Job.run_at)).where(*queued_due).scalar_subquery()
        later = select(func.count()).where(Job.state == QUEUED, Job.run_at > now)
        running = select(func.count()).where(Job.state == RUNNING)
        dead = select(func.count()).where(Job.state == DEAD)
        row = (
            await self.session.execute(
                select(
                    due,
                    oldest,
                    later.scalar_subquery(),
                    running.scalar_subquery(),
                    dead.scalar_subquery(),
                )
            )
        ).one()
        due_count, oldest_at, later_count, running_count, dead_count = row
        return int(due_count), int(later_count), int(running_count), int(dead_count), oldest_at

    async def count_by_state(self) -> dict[str, int]:
        rows = await self.session.execute(select(Job.state, func.count()).group_by(Job.state))
        return {state: int(count) for state, count in rows.all()}

    # ---------------------------------------------------------------------------- schedules

    async def ensure_schedules(self, rows: Sequence[Mapping[str, object]]) -> None:
        """Create missing schedules (due now) and refresh the definition of existing ones,
        keeping when they next run."""
        if not rows:
            return
        refreshed = ("kind", "payload", "every_seconds", "cron")
        if self._postgresql:
            pg = postgresql.insert(JobSchedule)
            pg_stmt = pg.on_conflict_do_update(
                index_elements=[JobSchedule.name],
                set_={name: pg.excluded[name] for name in refreshed},
            )
            await self.session.execute(pg_stmt, [dict(row) for row in rows])
        else:
            lite = sqlite.insert(JobSchedule)
            lite_stmt = lite.on_conflict_do_update(
                index_elements=[JobSchedule.name],
                set_={name: lite.excluded[name] for name in refreshed},
            )
            await self.session.execute(lite_stmt, [dict(row) for row in rows])

    async def due_schedules(self, now: datetime) -> list[JobSchedule]:
        return list(
            await self.session.scalars(
                select(JobSchedule).where(
                    JobSchedule.enabled.is_(True), JobSchedule.next_run_at <= now
                )
            )
        )

    async def advance_schedule(
        self, name: str, was: datetime, then: datetime, now: datetime
    ) -> bool:
        """Move a schedule from ``was`` to ``then``; False if another worker already did."""
        result = await self.session.execute(
            update(JobSchedule)
            .where(JobSchedule.name == name, JobSchedule.next_run_at == was)
            .values(next_run_at=then, last_run_at=now)
        )
        return _changed(result) == 1
