"""SQL for workspaces and instance settings."""

from __future__ import annotations

from sqlalchemy import func, select, update

from leadline.db import Repository
from leadline.models import InstanceSetting, Workspace


class WorkspaceRepository(Repository):
    async def get(self, workspace_id: str) -> Workspace | None:
        return await self.session.get(Workspace, workspace_id)

    async def get_by_slug(self, slug: str) -> Workspace | None:
        result = await self.session.execute(select(Workspace).where(Workspace.slug == slug))
        return result.scalar_one_or_none()

    async def count(self) -> int:
        return int((await self.session.execute(select(func.count(Workspace.id)))).scalar_one())

    async def add(self, workspace: Workspace) -> Workspace:
        self.session.add(workspace)
        await self.session.flush()
        return workspace

    async def get_setting(self, key: str) -> str | None:
        row = await self.session.get(InstanceSetting, key)
        return row.value if row else None

    async def put_setting(self, key: str, value: str) -> None:
        self.session.add(InstanceSetting(key=key, value=value))
        await self.session.flush()

    async def all(self) -> list[Workspace]:
        result = await self.session.execute(select(Workspace).order_by(Workspace.slug))
        return list(result.scalars())

    async def add_to_lead_count(self, workspace_id: str, n: int) -> None:
        await self.session.execute(
            update(Workspace)
            .where(Workspace.id == workspace_id)
            .values(lead_count=Workspace.lead_count + n)
        )

    async def lead_count(self, workspace_id: str) -> int:
        result = await self.session.execute(
            select(Workspace.lead_count).where(Workspace.id == workspace_id)
        )
        return int(result.scalar_one())
