"""The assistant's SQL, each query scoped to one workspace."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CursorResult, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from leadline.kit.time import utcnow
from leadline.models import (
    AssistantConversation,
    AssistantDraft,
    AssistantSettings,
    AssistantUsage,
)


class AssistantRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def settings(self, workspace_id: str) -> AssistantSettings | None:
        return await self.session.get(AssistantSettings, workspace_id)

    async def add(
        self, row: AssistantSettings | AssistantConversation | AssistantDraft | AssistantUsage
    ) -> None:
        self.session.add(row)
        await self.session.flush()

    async def conversation(
        self, workspace_id: str, conversation_id: str
    ) -> AssistantConversation | None:
        found = await self.session.get(AssistantConversation, conversation_id)
        if found is None or found.workspace_id != workspace_id:
            return None
        return found

    async def drafts(self, workspace_id: str, conversation_id: str) -> list[AssistantDraft]:
        result = await self.session.execute(
            select(AssistantDraft)
            .where(
                AssistantDraft.workspace_id == workspace_id,
                AssistantDraft.conversation_id == conversation_id,
            )
            .order_by(AssistantDraft.created_at, AssistantDraft.id)
        )
        return list(result.scalars())

    async def draft(
        self, workspace_id: str, conversation_id: str, draft_id: str
    ) -> AssistantDraft | None:
        found = await self.session.get(AssistantDraft, draft_id)
        if (
            found is None
            or found.workspace_id != workspace_id
            or found.conversation_id != conversation_id
        ):
            return None
        return found

    async def mark_used(self, workspace_id: str, draft_id: str, at: datetime | None = None) -> bool:
        """Mark the draft used unless it is already; whether this call marked it."""
        result: CursorResult[tuple[()]] = await self.session.execute(  # type: ignore[assignment]
            update(AssistantDraft)
            .where(
                AssistantDraft.workspace_id == workspace_id,
                AssistantDraft.id == draft_id,
                AssistantDraft.used_at.is_(None),
            )
            .values(used_at=at or utcnow())
            .execution_options(synchronize_session=False)
        )
        return result.rowcount == 1

    async def usage(
        self, workspace_id: str, month: str, *, lock: bool = False
    ) -> AssistantUsage | None:
        query = select(AssistantUsage).where(
            AssistantUsage.workspace_id == workspace_id, AssistantUsage.month == month
        )
        if lock:
            query = query.with_for_update()
        result = await self.session.execute(query)
        return result.scalar_one_or_none()
