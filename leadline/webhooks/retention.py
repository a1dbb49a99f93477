"""Retention of webhook deliveries: deliveries (with their attempts) go after their period,
then the events that no delivery refers to any more, which hold the payloads."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from leadline.webhooks.retention_repository import DeliveryRetentionRepository


async def count_deliveries_before(
    session: AsyncSession, workspace_id: str, cutoff: datetime
) -> int:
    return await DeliveryRetentionRepository(session).count_before(workspace_id, cutoff)


async def delete_deliveries_before(
    session: AsyncSession, workspace_id: str, cutoff: datetime, batch: int
) -> int:
    """Delete up to ``batch`` deliveries made before ``cutoff``, then (when none is left) the
    events left without deliveries; how many deliveries went, 0 once none is left."""
    repo = DeliveryRetentionRepository(session)
    removed = await repo.delete_before(workspace_id, cutoff, batch)
    if removed < batch:
        await repo.delete_undelivered_events_before(workspace_id, cutoff, batch - removed)
    return removed
