"""SQL for workspaces and instance settings."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CursorResult, delete, func, select, update

from leadline.db import Repository
from leadline.models import InstanceSetting, Workspace


class WorkspaceRepository(Repository):
    async def get(self, workspace_id: str) -> Workspace | None:
        return await self.session.get(Workspace, workspace_id)

    async def get_for_update(self, workspace_id: str) -> Workspace | None:
        """The workspace, locked until the transaction ends on PostgreSQL (SQLite has one
        writer at a time anyway), so two changes of its status take turns."""
        found: Workspace | None = await self.session.scalar(
            select(Workspace)
            .where(Workspace.id == workspace_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return found

    async def due_for_purge(self, now: datetime, limit: int) -> list[Workspace]:
        """Closed workspaces whose retention ended by ``now``, the longest due first."""
        result = await self.session.scalars(
            select(Workspace)
            .where(Workspace.status == "closed", Workspace.purge_after <= now)
            .order_by(Workspace.purge_after, Workspace.id)
            .limit(limit)
        )
        return list(result)

    async def delete_if_due(self, workspace_id: str, now: datetime) -> bool:
        """Delete the workspace (its rows go with it, along their ON DELETE CASCADE) if it is
        still closed and due; whether it was."""
        result = await self.session.execute(
            delete(Workspace).where(
                Workspace.id == workspace_id,
                Workspace.status == "closed",
                Workspace.purge_after <= now,
            )
        )
        return isinstance(result, CursorResult) and result.rowcount > 0

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
