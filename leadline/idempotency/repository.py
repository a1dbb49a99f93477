"""SQL for stored idempotent answers."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select

from leadline.db import Repository
from leadline.models import IdempotencyRecord


class IdempotencyRepository(Repository):
    async def get(self, workspace_id: str, key: str) -> IdempotencyRecord | None:
        result = await self.session.execute(
            select(IdempotencyRecord).where(
                IdempotencyRecord.workspace_id == workspace_id, IdempotencyRecord.key == key
            )
        )
        return result.scalar_one_or_none()

    async def claim(self, record: IdempotencyRecord) -> None:
        """Insert now, so a concurrent request with the same key fails on the primary key."""
        self.session.add(record)
        await self.session.flush()

    async def delete_older_than(self, cutoff: datetime) -> int:
        result = await self.session.execute(
            delete(IdempotencyRecord).where(IdempotencyRecord.created_at < cutoff)
        )
        return int(getattr(result, "rowcount", 0) or 0)
