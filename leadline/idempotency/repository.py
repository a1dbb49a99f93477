"""SQL for stored idempotent answers."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CursorResult, delete, select, tuple_

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

    async def delete_older_than(self, cutoff: datetime, batch: int) -> int:
        """Up to ``batch`` records stored before ``cutoff``, across workspaces (their expiry is
        the same everywhere); the purge calls this until it returns 0."""
        doomed = (
            select(IdempotencyRecord.workspace_id, IdempotencyRecord.key)
            .where(IdempotencyRecord.created_at < cutoff)
            .limit(batch)
        )
        result = await self.session.execute(
            delete(IdempotencyRecord).where(
                tuple_(IdempotencyRecord.workspace_id, IdempotencyRecord.key).in_(doomed)
            )
        )
        return result.rowcount if isinstance(result, CursorResult) else 0
