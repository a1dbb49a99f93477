"""SQL for the retention of a workspace's job rows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from leadline.db import Repository
from leadline.models import Job

# Only finished jobs go: a job still queued or running is never touched, whatever its age.
FINISHED = ("succeeded", "dead")


class JobRetentionRepository(Repository):
    async def count_before(self, workspace_id: str, cutoff: datetime) -> int:
        result = await self.session.execute(
            select(func.count()).select_from(Job).where(*_old(workspace_id, cutoff))
        )
        return int(result.scalar_one())

    async def delete_before(self, workspace_id: str, cutoff: datetime, batch: int) -> int:
        return await self.delete_some(Job, *_old(workspace_id, cutoff), batch=batch)


def _old(workspace_id: str, cutoff: datetime) -> tuple[Any, ...]:
    return (Job.workspace_id == workspace_id, Job.state.in_(FINISHED), Job.created_at < cutoff)
