"""Retention of conversations: a conversation with no activity for its period goes with its
messages and notes. Its contact stays (a lead may point to it)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from leadline.inbox.retention_repository import ConversationRetentionRepository


async def count_conversations_before(
    session: AsyncSession, workspace_id: str, cutoff: datetime
) -> int:
    return await ConversationRetentionRepository(session).count_before(workspace_id, cutoff)


async def delete_conversations_before(
    session: AsyncSession, workspace_id: str, cutoff: datetime, batch: int
) -> int:
    """Delete up to ``batch`` conversations last active before ``cutoff``, with their
    messages and notes; 0 once none is left."""
    return await ConversationRetentionRepository(session).delete_before(workspace_id, cutoff, batch)
