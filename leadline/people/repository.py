"""SQL for people."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update

from leadline.db import Repository
from leadline.models import Person, Workspace


class PersonRepository(Repository):
    async def add(self, person: Person) -> Person:
        self.session.add(person)
        await self.session.flush()
        return person

    async def get(self, workspace_id: str, person_id: str) -> Person | None:
        found: Person | None = await self.session.scalar(
            select(Person).where(Person.workspace_id == workspace_id, Person.id == person_id)
        )
        return found

    async def by_email(self, workspace_id: str, email: str) -> Person | None:
        found: Person | None = await self.session.scalar(
            select(Person).where(Person.workspace_id == workspace_id, Person.email == email)
        )
        return found

    async def of_workspace(self, workspace_id: str) -> list[Person]:
        result = await self.session.scalars(
            select(Person)
            .where(Person.workspace_id == workspace_id)
            .order_by(Person.created_at, Person.id)
        )
        return list(result)

    async def page(
        self,
        workspace_id: str,
        *,
        limit: int,
        after: tuple[datetime, str] | None = None,
        roles: tuple[str, ...] | None = None,
    ) -> list[Person]:
        """Up to ``limit`` people of the workspace (of ``roles``, if given), oldest first,
        after ``after``."""
        query = (
            select(Person)
            .where(Person.workspace_id == workspace_id)
            .order_by(Person.created_at, Person.id)
            .limit(limit)
        )
        if after:
            created, person_id = after
            query = query.where(
                (Person.created_at > created)
                | ((Person.created_at == created) & (Person.id > person_id))
            )
        if roles is not None:
            query = query.where(Person.role.in_(roles))
        return list(await self.session.scalars(query))

    async def remove(self, workspace_id: str, person_id: str) -> None:
        """Delete a person: their password, sign-ins and tokens go with them."""
        await self.session.execute(
            delete(Person).where(Person.workspace_id == workspace_id, Person.id == person_id)
        )

    async def with_workspaces(self, workspace_id: str | None) -> list[tuple[Person, Workspace]]:
        query = select(Person, Workspace).join(Workspace, Workspace.id == Person.workspace_id)
        if workspace_id is not None:
            query = query.where(Person.workspace_id == workspace_id)
        result = await self.session.execute(
            query.order_by(Workspace.slug, Person.created_at, Person.id)
        )
        return [(row[0], row[1]) for row in result.all()]

    async def owners(self, workspace_id: str) -> list[Person]:
        """The workspace's owners, locked for this transaction on PostgreSQL: two demotions at
        once take turns, and the second sees the first."""
        result = await self.session.scalars(
            select(Person)
            .where(Person.workspace_id == workspace_id, Person.role == "owner")
            .order_by(Person.id)
            .with_for_update()
        )
        return list(result)

    async def exists_in(self, workspace_id: str) -> bool:
        found = await self.session.scalar(
            select(Person.id).where(Person.workspace_id == workspace_id).limit(1)
        )
        return found is not None

    async def anyone(self) -> bool:
        """Whether any workspace has a person."""
        return await self.session.scalar(select(Person.id).limit(1)) is not None

    async def everywhere_by_email(self, email: str) -> list[Person]:
        """The people with this address in every workspace, oldest first."""
        result = await self.session.scalars(
            select(Person).where(Person.email == email).order_by(Person.created_at, Person.id)
        )
        return list(result)

    async def next_online_agent(self, workspace_id: str, roles: tuple[str, ...]) -> Person | None:
        """The online agent (or admin, or owner: one of ``roles``) handed a conversation
        longest ago, locked for this transaction on PostgreSQL so two assignments take turns."""
        query = (
            select(Person)
            .where(
                Person.workspace_id == workspace_id,
                Person.availability == "online",
                Person.role.in_(roles),
            )
            .order_by(Person.last_assigned_at.asc().nulls_first(), Person.created_at, Person.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        found: Person | None = await self.session.scalar(query)
        return found

    async def anyone_online(self, workspace_id: str, roles: tuple[str, ...]) -> bool:
        """Whether one of the workspace's people with one of ``roles`` is online."""
        found = await self.session.scalar(
            select(Person.id)
            .where(
                Person.workspace_id == workspace_id,
                Person.availability == "online",
                Person.role.in_(roles),
            )
            .limit(1)
        )
        return found is not None

    async def mark_assigned(self, person_id: str, when: datetime) -> None:
        await self.session.execute(
            update(Person).where(Person.id == person_id).values(last_assigned_at=when)
        )
