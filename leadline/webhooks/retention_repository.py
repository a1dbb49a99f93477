"""SQL for the retention of webhook deliveries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import exists, func, select

from leadline.db import Repository
from leadline.models import WebhookDelivery, WebhookEvent


class DeliveryRetentionRepository(Repository):
    async def count_before(self, workspace_id: str, cutoff: datetime) -> int:
        result = await self.session.execute(
            select(func.count()).select_from(WebhookDelivery).where(*_old(workspace_id, cutoff))
        )
        return int(result.scalar_one())

    async def delete_before(self, workspace_id: str, cutoff: datetime, batch: int) -> int:
        """Up to ``batch`` finished deliveries made before ``cutoff`` (their attempts cascade)."""
        return await self.delete_some(WebhookDelivery, *_old(workspace_id, cutoff), batch=batch)

    async def delete_undelivered_events_before(
        self, workspace_id: str, cutoff: datetime, batch: int
    ) -> int:
        """Up to ``batch`` events made before ``cutoff`` that no delivery refers to any more:
        what they carried went to nobody who can still be asked about it."""
        return await self.delete_some(
            WebhookEvent,
            WebhookEvent.workspace_id == workspace_id,
            WebhookEvent.created_at < cutoff,
            ~exists().where(WebhookDelivery.event_id == WebhookEvent.id),
            batch=batch,
        )


def _old(workspace_id: str, cutoff: datetime) -> tuple[Any, ...]:
    """Deliveries made before ``cutoff`` and finished: a pending one is still on its way."""
    return (
        WebhookDelivery.workspace_id == workspace_id,
        WebhookDelivery.created_at < cutoff,
        WebhookDelivery.state != "pending",
    )
