"""Retention of a workspace's job rows: only finished jobs (succeeded or dead) go; a job
still queued or running is never touched, whatever its age."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from leadline.jobs.retention_repository import JobRetentionRepository


async def count_jobs_before(session: AsyncSession, workspace_id: str, cutoff: datetime) -> int:
    return await JobRetentionRepository(session).count_before(workspace_id, cutoff)


async def delete_jobs_before(
    session: AsyncSession, workspace_id: str, cutoff: datetime, batch: int
) -> int:
    """Delete up to ``batch`` of the workspace's finished jobs created before ``cutoff``."""
    return await JobRetentionRepository(session).delete_before(workspace_id, cutoff, batch)
