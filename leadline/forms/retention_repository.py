"""SQL for the retention of form submissions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from leadline.db import Repository
from leadline.models import LeadSubmission


class SubmissionRetentionRepository(Repository):
    async def count_before(self, workspace_id: str, cutoff: datetime) -> int:
        result = await self.session.execute(
            select(func.count())
            .select_from(LeadSubmission)
            .where(LeadSubmission.workspace_id == workspace_id, LeadSubmission.created_at < cutoff)
        )
        return int(result.scalar_one())

    async def delete_before(self, workspace_id: str, cutoff: datetime, batch: int) -> int:
        """Up to ``batch`` submissions captured before ``cutoff``, with what the CRM was sent
        for them (which cascades)."""
        return await self.delete_some(
            LeadSubmission,
            LeadSubmission.workspace_id == workspace_id,
            LeadSubmission.created_at < cutoff,
            batch=batch,
        )
