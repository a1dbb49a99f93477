"""Retention of form submissions: they go after their period; the submission rollups (the
counts the reports read) stay as they are."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from leadline.forms.retention_repository import SubmissionRetentionRepository


async def count_submissions_before(
    session: AsyncSession, workspace_id: str, cutoff: datetime
) -> int:
    return await SubmissionRetentionRepository(session).count_before(workspace_id, cutoff)


async def delete_submissions_before(
    session: AsyncSession, workspace_id: str, cutoff: datetime, batch: int
) -> int:
    """Delete up to ``batch`` submissions captured before ``cutoff``; 0 once none is left."""
    return await SubmissionRetentionRepository(session).delete_before(workspace_id, cutoff, batch)
