"""SQL for API keys."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update

from leadline.db import Repository
from leadline.models import ApiKey, Workspace


class ApiKeyRepository(Repository):
    async def add(self, key: ApiKey) -> ApiKey:
        self.session.add(key)
        await self.session.flush()
        return key

    async def find_active_by_hash(self, key_hash: str) -> tuple[ApiKey, Workspace] | None:
        result = await self.session.execute(
            select(ApiKey, Workspace)
            .join(Workspace, Workspace.id == ApiKey.workspace_id)
            .where(ApiKey.key_hash == key_hash, ApiKey.revoked_at.is_(None))
        )
        row = result.first()
        return (row[0], row[1]) if row else None

    async def find_by_hash(self, key_hash: str) -> ApiKey | None:
        """The key with this digest, revoked or not."""
        found: ApiKey | None = await self.session.scalar(
            select(ApiKey).where(ApiKey.key_hash == key_hash)
        )
        return found

    async def of_role(self, workspace_id: str, role: str) -> list[ApiKey]:
        result = await self.session.scalars(
            select(ApiKey)
            .where(
                ApiKey.workspace_id == workspace_id,
                ApiKey.role == role,
                ApiKey.person_id.is_(None),
                # Keys of the environment follow it, not the API.
                ApiKey.from_env.is_(None),
            )
            .order_by(ApiKey.created_at, ApiKey.id)
        )
        return list(result)

    async def with_workspaces(self, workspace_id: str | None) -> list[tuple[ApiKey, Workspace]]:
        query = select(ApiKey, Workspace).join(Workspace, Workspace.id == ApiKey.workspace_id)
        if workspace_id is not None:
            query = query.where(ApiKey.workspace_id == workspace_id)
        result = await self.session.execute(query.order_by(Workspace.slug, ApiKey.created_at))
        return [(row[0], row[1]) for row in result.all()]

    async def of_workspace(self, workspace_id: str, key_id: str, role: str) -> ApiKey | None:
        found: ApiKey | None = await self.session.scalar(
            select(ApiKey).where(
                ApiKey.id == key_id,
                ApiKey.workspace_id == workspace_id,
                ApiKey.role == role,
                ApiKey.person_id.is_(None),
                ApiKey.from_env.is_(None),
            )
        )
        return found

    async def from_env(self, variable: str) -> list[ApiKey]:
        """The keys read from the environment variable ``variable``, revoked ones too."""
        result = await self.session.scalars(
            select(ApiKey).where(ApiKey.from_env == variable).order_by(ApiKey.created_at)
        )
        return list(result)

    async def any_active_from_env(self) -> bool:
        found = await self.session.scalar(
            select(ApiKey.id)
            .where(ApiKey.from_env.is_not(None), ApiKey.revoked_at.is_(None))
            .limit(1)
        )
        return found is not None

    async def get_by_id_or_prefix(self, ident: str) -> list[ApiKey]:
        result = await self.session.execute(
            select(ApiKey).where((ApiKey.id == ident) | (ApiKey.prefix == ident))
        )
        return list(result.scalars())

    async def tokens(
        self,
        workspace_id: str,
        *,
        person_id: str | None,
        limit: int,
        after: tuple[datetime, str] | None = None,
    ) -> list[ApiKey]:
        """People's tokens of the workspace (of one person, if given), newest first."""
        query = (
            select(ApiKey)
            .where(ApiKey.workspace_id == workspace_id, ApiKey.person_id.is_not(None))
            .order_by(ApiKey.created_at.desc(), ApiKey.id.desc())
            .limit(limit)
        )
        if person_id is not None:
            query = query.where(ApiKey.person_id == person_id)
        if after:
            created, key_id = after
            query = query.where(
                (ApiKey.created_at < created)
                | ((ApiKey.created_at == created) & (ApiKey.id < key_id))
            )
        return list(await self.session.scalars(query))

    async def active_tokens_of_person(self, workspace_id: str, person_id: str) -> list[ApiKey]:
        result = await self.session.scalars(
            select(ApiKey).where(
                ApiKey.workspace_id == workspace_id,
                ApiKey.person_id == person_id,
                ApiKey.revoked_at.is_(None),
            )
        )
        return list(result)

    async def token(self, workspace_id: str, key_id: str) -> ApiKey | None:
        """A person's token of the workspace (never a workspace's key)."""
        found: ApiKey | None = await self.session.scalar(
            select(ApiKey).where(
                ApiKey.id == key_id,
                ApiKey.workspace_id == workspace_id,
                ApiKey.person_id.is_not(None),
            )
        )
        return found

    async def set_role_of_person(self, workspace_id: str, person_id: str, role: str) -> None:
        await self.session.execute(
            update(ApiKey)
            .where(ApiKey.workspace_id == workspace_id, ApiKey.person_id == person_id)
            .values(role=role)
        )

    async def touch(self, key_id: str, when: datetime) -> None:
        await self.session.execute(
            update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=when)
        )
