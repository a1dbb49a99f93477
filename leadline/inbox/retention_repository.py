"""SQL for the retention of conversations."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from leadline.db import Repository
from leadline.models import Conversation


class ConversationRetentionRepository(Repository):
    async def count_before(self, workspace_id: str, cutoff: datetime) -> int:
        result = await self.session.execute(
            select(func.count())
            .select_from(Conversation)
            .where(
                Conversation.workspace_id == workspace_id,
                Conversation.last_activity_at < cutoff,
            )
        )
        return int(result.scalar_one())

    async def delete_before(self, workspace_id: str, cutoff: datetime, batch: int) -> int:
        """Up to ``batch`` conversations last active before ``cutoff``; their messages, notes
        and assistant state cascade."""
        return await self.delete_some(
            Conversation,
            Conversation.workspace_id == workspace_id,
            Conversation.last_activity_at < cutoff,
            batch=batch,
        )
