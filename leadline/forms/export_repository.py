"""SQL an export of leads asks of form submissions: which leads were submitted on some sites."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from leadline.db import Repository
from leadline.models import LeadSubmission


class SubmissionExportRepository(Repository):
    async def leads_submitted_at(
        self, workspace_id: str, lead_ids: Sequence[str], site_ids: Sequence[str]
    ) -> set[str]:
        """Those of ``lead_ids`` with a submission from one of ``site_ids``."""
        if not lead_ids or not site_ids:
            return set()
        rows = await self.session.scalars(
            select(LeadSubmission.lead_id)
            .where(
                LeadSubmission.workspace_id == workspace_id,
                LeadSubmission.lead_id.in_(lead_ids),
                LeadSubmission.site_id.in_(site_ids),
            )
            .distinct()
        )
        return {lead_id for lead_id in rows if lead_id is not None}
