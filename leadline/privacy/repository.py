"""SQL for erasure receipts."""

from __future__ import annotations

from leadline.db import Repository
from leadline.models import Erasure


class ErasureRepository(Repository):
    async def add(self, erasure: Erasure) -> None:
        self.session.add(erasure)
        await self.session.flush()

    async def get(self, workspace_id: str, erasure_id: str) -> Erasure | None:
        found = await self.session.get(Erasure, erasure_id)
        return found if found is not None and found.workspace_id == workspace_id else None
