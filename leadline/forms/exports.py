"""What an export of leads asks of form submissions (see leadline.analytics.export)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from leadline.forms.export_repository import SubmissionExportRepository


async def leads_submitted_at(
    session: AsyncSession, workspace_id: str, lead_ids: Sequence[str], site_ids: Sequence[str]
) -> set[str]:
    """Those of ``lead_ids`` with a form submission from one of ``site_ids``."""
    return await SubmissionExportRepository(session).leads_submitted_at(
        workspace_id, lead_ids, site_ids
    )
