"""A lead's consent as the consent ledger has it: the entries of the visit it came from and
its own (made when it was created through the API with consent flags)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from leadline.errors import NotFound
from leadline.leads.repository import LeadRepository
from leadline.tracking import consent


async def ledger_of_lead(
    session: AsyncSession,
    workspace_id: str,
    lead_id: str,
    *,
    after: tuple[datetime, str] | None,
    limit: int,
) -> consent.LedgerPage:
    """A page of the lead's ledger, oldest first; NotFound for a lead the workspace lacks."""
    lead = await LeadRepository(session).get(workspace_id, lead_id)
    if lead is None:
        raise NotFound(f"lead '{lead_id}' not found", details={"id": lead_id}, resource="lead")
    return await consent.ledger(
        session, workspace_id, visit_id=lead.visit_id, lead_id=lead.id, after=after, limit=limit
    )
