"""SQL for retention periods and the runs that apply them."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import delete, select

from leadline.db import Repository
from leadline.kit.time import utcnow
from leadline.models import RetentionPolicy, RetentionRun


class RetentionRepository(Repository):
    async def periods(self, workspace_id: str) -> dict[str, int]:
        """The workspace's retention periods in days, by data class (only those set)."""
        result = await self.session.execute(
            select(RetentionPolicy.data_class, RetentionPolicy.days).where(
                RetentionPolicy.workspace_id == workspace_id
            )
        )
        return {str(name): int(days) for name, days in result.all()}

    async def set_periods(self, workspace_id: str, periods: Mapping[str, int | None]) -> None:
        """Set each class's period (None: unset, kept forever)."""
        if not periods:
            return
        await self.session.execute(
            delete(RetentionPolicy).where(
                RetentionPolicy.workspace_id == workspace_id,
                RetentionPolicy.data_class.in_(list(periods)),
            )
        )
        now = utcnow()
        for name, days in sorted(periods.items()):
            if days is not None:
                self.session.add(
                    RetentionPolicy(
                        workspace_id=workspace_id, data_class=name, days=days, updated_at=now
                    )
                )
        await self.session.flush()

    async def workspaces_with_periods(self) -> list[str]:
        result = await self.session.scalars(select(RetentionPolicy.workspace_id).distinct())
        return sorted(result)

    async def add_run(self, run: RetentionRun) -> None:
        self.session.add(run)
        await self.session.flush()

    async def unfinished_run(self, workspace_id: str) -> RetentionRun | None:
        found: RetentionRun | None = await self.session.scalar(
            select(RetentionRun)
            .where(RetentionRun.workspace_id == workspace_id, RetentionRun.finished_at.is_(None))
            .order_by(RetentionRun.started_at, RetentionRun.id)
            .limit(1)
        )
        return found

    async def run(self, run_id: str) -> RetentionRun:
        found = await self.session.get(RetentionRun, run_id, populate_existing=True)
        assert found is not None, run_id
        return found

    async def last_run(self, workspace_id: str) -> RetentionRun | None:
        found: RetentionRun | None = await self.session.scalar(
            select(RetentionRun)
            .where(RetentionRun.workspace_id == workspace_id)
            .order_by(RetentionRun.started_at.desc(), RetentionRun.id.desc())
            .limit(1)
        )
        return found
