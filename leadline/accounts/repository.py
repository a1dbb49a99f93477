"""SQL for accounts: passwords, sign-ins and one-time links."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update

from leadline.db import Repository
from leadline.models import OneTimeLink, PersonPassword, SignIn


class PasswordRepository(Repository):
    async def of(self, person_id: str) -> PersonPassword | None:
        found: PersonPassword | None = await self.session.get(PersonPassword, person_id)
        return found

    async def of_people(self, person_ids: list[str]) -> dict[str, str]:
        """The password hashes of these people (those who have one), by person."""
        if not person_ids:
            return {}
        result = await self.session.execute(
            select(PersonPassword.person_id, PersonPassword.password_hash).where(
                PersonPassword.person_id.in_(person_ids)
            )
        )
        return {row.person_id: row.password_hash for row in result}

    async def put(
        self, workspace_id: str, person_id: str, password_hash: str, when: datetime
    ) -> None:
        existing = await self.of(person_id)
        if existing is None:
            self.session.add(
                PersonPassword(
                    person_id=person_id,
                    workspace_id=workspace_id,
                    password_hash=password_hash,
                    changed_at=when,
                )
            )
        else:
            existing.password_hash = password_hash
            existing.changed_at = when
        await self.session.flush()


class SignInRepository(Repository):
    async def add(self, signin: SignIn) -> SignIn:
        self.session.add(signin)
        await self.session.flush()
        return signin

    async def get(self, signin_id: str) -> SignIn | None:
        found: SignIn | None = await self.session.get(SignIn, signin_id)
        return found

    async def of_person(self, workspace_id: str, person_id: str, now: datetime) -> list[SignIn]:
        """The person's sign-ins that have not expired, most recently seen first."""
        result = await self.session.scalars(
            select(SignIn)
            .where(
                SignIn.workspace_id == workspace_id,
                SignIn.person_id == person_id,
                SignIn.expires_at > now,
            )
            .order_by(SignIn.last_seen_at.desc(), SignIn.id)
        )
        return list(result)

    async def touch(self, signin_id: str, seen: datetime, expires: datetime) -> None:
        await self.session.execute(
            update(SignIn)
            .where(SignIn.id == signin_id)
            .values(last_seen_at=seen, expires_at=expires)
        )

    async def remove(self, signin_id: str) -> None:
        await self.session.execute(delete(SignIn).where(SignIn.id == signin_id))

    async def remove_one_of_person(self, workspace_id: str, person_id: str, signin_id: str) -> bool:
        result = await self.session.execute(
            delete(SignIn).where(
                SignIn.workspace_id == workspace_id,
                SignIn.person_id == person_id,
                SignIn.id == signin_id,
            )
        )
        return int(getattr(result, "rowcount", 0) or 0) == 1

    async def remove_of_person(self, workspace_id: str, person_id: str) -> int:
        result = await self.session.execute(
            delete(SignIn).where(SignIn.workspace_id == workspace_id, SignIn.person_id == person_id)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def remove_expired_of_person(
        self, workspace_id: str, person_id: str, now: datetime
    ) -> None:
        await self.session.execute(
            delete(SignIn).where(
                SignIn.workspace_id == workspace_id,
                SignIn.person_id == person_id,
                SignIn.expires_at <= now,
            )
        )


class LinkRepository(Repository):
    async def add(self, link: OneTimeLink) -> OneTimeLink:
        self.session.add(link)
        await self.session.flush()
        return link

    async def by_token_hash(self, purpose: str, token_hash: str) -> OneTimeLink | None:
        """The link, locked for this transaction on PostgreSQL: two uses of it take turns, and
        the second sees the first."""
        found: OneTimeLink | None = await self.session.scalar(
            select(OneTimeLink)
            .where(OneTimeLink.purpose == purpose, OneTimeLink.token_hash == token_hash)
            .with_for_update()
        )
        return found

    async def claim(self, link_id: str, when: datetime) -> bool:
        """Mark the link used, unless it was already (by a request that got there first)."""
        result = await self.session.execute(
            update(OneTimeLink)
            .where(OneTimeLink.id == link_id, OneTimeLink.used_at.is_(None))
            .values(used_at=when)
        )
        return int(getattr(result, "rowcount", 0) or 0) == 1

    async def pending(self, workspace_id: str, purpose: str, now: datetime) -> list[OneTimeLink]:
        """The workspace's unused, unexpired links of ``purpose``, newest first."""
        result = await self.session.scalars(
            select(OneTimeLink)
            .where(
                OneTimeLink.workspace_id == workspace_id,
                OneTimeLink.purpose == purpose,
                OneTimeLink.used_at.is_(None),
                OneTimeLink.expires_at > now,
            )
            .order_by(OneTimeLink.created_at.desc(), OneTimeLink.id.desc())
        )
        return list(result)

    async def remove_unused(self, workspace_id: str, purpose: str, link_id: str) -> bool:
        """Delete an unused link of the workspace; whether there was one."""
        result = await self.session.execute(
            delete(OneTimeLink).where(
                OneTimeLink.workspace_id == workspace_id,
                OneTimeLink.purpose == purpose,
                OneTimeLink.id == link_id,
                OneTimeLink.used_at.is_(None),
            )
        )
        return int(getattr(result, "rowcount", 0) or 0) == 1

    async def retire_unused(self, purpose: str, when: datetime) -> None:
        """End every unused link of ``purpose``: a new one replaces them."""
        await self.session.execute(
            update(OneTimeLink)
            .where(
                OneTimeLink.purpose == purpose,
                OneTimeLink.used_at.is_(None),
                OneTimeLink.expires_at > when,
            )
            .values(expires_at=when)
        )
