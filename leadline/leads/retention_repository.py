"""SQL for the retention of leads."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from leadline.db import Repository
from leadline.models import Lead


class LeadRetentionRepository(Repository):
    async def count_before(self, workspace_id: str, status: str, cutoff: datetime) -> int:
        result = await self.session.execute(
            select(func.count()).select_from(Lead).where(*_old(workspace_id, status, cutoff))
        )
        return int(result.scalar_one())

    async def some_before(
        self, workspace_id: str, status: str, cutoff: datetime, batch: int
    ) -> list[Lead]:
        result = await self.session.scalars(
            select(Lead)
            .where(*_old(workspace_id, status, cutoff))
            .order_by(Lead.updated_at, Lead.id)
            .limit(batch)
        )
        return list(result)

    async def visit_ids_in_use(self, workspace_id: str, visit_ids: Sequence[str]) -> set[str]:
        if not visit_ids:
            return set()
        result = await self.session.scalars(
            select(Lead.visit_id)
            .where(Lead.workspace_id == workspace_id, Lead.visit_id.in_(visit_ids))
            .distinct()
        )
        return {visit_id for visit_id in result if visit_id is not None}


def _old(workspace_id: str, status: str, cutoff: datetime) -> tuple[Any, ...]:
    return (Lead.workspace_id == workspace_id, Lead.status == status, Lead.updated_at < cutoff)
