"""Retention of leads, one period per status: a lead not changed for its status's period goes
with its submissions, status history and conversion uploads (they cascade from it); the
facets and the workspace's lead count follow, as when a lead is erased."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from leadline.leads.facets import facets_of
from leadline.leads.repository import LeadRepository
from leadline.leads.retention_repository import LeadRetentionRepository
from leadline.workspaces import service as workspaces


async def count_leads_before(
    session: AsyncSession, workspace_id: str, status: str, cutoff: datetime
) -> int:
    return await LeadRetentionRepository(session).count_before(workspace_id, status, cutoff)


async def delete_leads_before(
    session: AsyncSession, workspace_id: str, status: str, cutoff: datetime, batch: int
) -> int:
    """Delete up to ``batch`` leads in ``status`` last updated before ``cutoff``; 0 once none
    is left."""
    found = await LeadRetentionRepository(session).some_before(workspace_id, status, cutoff, batch)
    if not found:
        return 0
    facets: Counter[str] = Counter()
    for lead in found:
        facets.subtract(facets_of(lead))
    repo = LeadRepository(session)
    await repo.delete(workspace_id, [lead.id for lead in found])
    await repo.add_to_facets(workspace_id, facets)
    await workspaces.count_new_leads(session, workspace_id, -len(found))
    return len(found)


async def visit_ids_in_use(
    session: AsyncSession, workspace_id: str, visit_ids: Sequence[str]
) -> set[str]:
    """Which of ``visit_ids`` a lead of the workspace still points to."""
    return await LeadRetentionRepository(session).visit_ids_in_use(workspace_id, visit_ids)
