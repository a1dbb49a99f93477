"""``/jobs``: the workspace's background jobs, and replaying the dead ones."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from leadline.auth.roles import Permission
from leadline.auth.service import Principal
from leadline.http import path_id
from leadline.jobs import service as jobs
from leadline.kit import cursors
from leadline.kit.time import iso_millis
from leadline.models import Job
from leadline.surfaces.leadiosa import schemas as s
from leadline.surfaces.leadiosa.dependencies import (
    DEFAULT_LIMIT,
    After,
    Caller,
    Limit,
    Session,
    plain_text,
)
from leadline.surfaces.leadiosa.envelope import data, omit_empty, page

router = APIRouter(tags=["jobs"])

JobId = Annotated[str, Path(max_length=64, description="The job's id (`job_...`).")]


def _time(value: datetime | None) -> str | None:
    return iso_millis(value) if value is not None else None


def render_job(job: Job) -> dict[str, Any]:
    return omit_empty(
        {
            "id": job.id,
            "kind": job.kind,
            "state": job.state,
            "attempts": job.attempts,
            "max_attempts": job.max_attempts,
            "payload": json.loads(job.payload or "{}"),
            "run_at": _time(job.run_at),
            "created_at": _time(job.created_at),
            "updated_at": _time(job.updated_at),
            "finished_at": _time(job.finished_at),
            "last_error": job.last_error,
        }
    )


def _position(key: dict[str, Any]) -> tuple[datetime, str]:
    return cursors.timestamp(key["created_at"]), cursors.identifier(key["id"])


def _key(job: Job) -> dict[str, Any]:
    return {"created_at": cursors.time_key(job.created_at), "id": job.id}


async def _workspace_job(session: AsyncSession, caller: Principal, job_id: str) -> Job:
    """The caller's workspace's job: 404 ``job_not_found`` for any other, as for none."""
    return await jobs.get_job(session, job_id, workspace_id=caller.workspace_id)


@router.get("/jobs", response_model=s.JobList, responses=s.responses(400))
async def list_jobs(
    session: Session,
    caller: Caller,
    limit: Limit = DEFAULT_LIMIT,
    after: After = None,
    state: Annotated[s.JobState | None, Query(description="Only jobs in this state.")] = None,
    kind: Annotated[str | None, Query(max_length=64, description="Only jobs of this kind.")] = None,
) -> Response:
    """The workspace's jobs, newest first."""
    caller.require(Permission.JOBS_MANAGE)
    result = await jobs.list_jobs(
        session,
        state=state,
        # An empty filter (``kind=``) filters nothing.
        kind=plain_text(kind, "kind") or None,
        workspace_id=caller.workspace_id,
        limit=limit,
        before=cursors.resume(after, _position),
    )
    listed = cursors.page(result.jobs, has_more=result.has_more, key=_key)
    return page(listed, (render_job(job) for job in listed.items))


@router.post("/jobs/replay", response_model=s.ReplayedEnvelope, responses=s.responses(400, 413))
async def replay_dead_jobs(
    session: Session,
    caller: Caller,
    body: Annotated[s.ReplayAll | None, Body()] = None,
) -> Response:
    """Queue every dead job of the workspace again (of one kind, if given)."""
    caller.require(Permission.JOBS_MANAGE)
    kind = plain_text(body.kind if body else None, "kind")
    count = await jobs.replay(
        session,
        kind=kind,
        workspace_id=caller.workspace_id,
        all_dead=True,
        actor=caller.actor,
    )
    return data({"replayed": count})


# A job, and not /jobs/replay beside it (which takes POST alone).
@router.get(
    "/jobs/" + path_id("job_id", besides="replay"),
    response_model=s.JobEnvelope,
    responses=s.responses(400, 404),
)
async def get_job(session: Session, caller: Caller, job_id: JobId) -> Response:
    """One job of the workspace."""
    caller.require(Permission.JOBS_MANAGE)
    return data(render_job(await _workspace_job(session, caller, job_id)))


@router.post(
    "/jobs/{job_id}/replay", response_model=s.JobEnvelope, responses=s.responses(400, 404, 409)
)
async def replay_job(session: Session, caller: Caller, job_id: JobId) -> Response:
    """Queue a dead job again, with a fresh set of attempts. 409 when the job is not dead."""
    caller.require(Permission.JOBS_MANAGE)
    job = await _workspace_job(session, caller, job_id)
    await jobs.replay(session, ids=[job.id], workspace_id=caller.workspace_id, actor=caller.actor)
    await session.refresh(job)
    return data(render_job(job))
