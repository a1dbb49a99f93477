"""Every SQL statement for sites and their domains."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from leadline.models import Site, SiteDomain


class SiteRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, site: Site, domains: list[SiteDomain]) -> None:
        self.session.add(site)
        await self.session.flush()
        self.session.add_all(domains)
        await self.session.flush()

    async def by_key(self, site_key: str) -> tuple[Site, list[str]] | None:
        site = await self.session.scalar(select(Site).where(Site.site_key == site_key))
        if site is None:
            return None
        domains = await self.session.scalars(
            select(SiteDomain.domain).where(SiteDomain.site_id == site.id)
        )
        return site, list(domains)

    async def of_workspace(self, workspace_id: str) -> list[tuple[Site, list[str]]]:
        sites = list(
            await self.session.scalars(
                select(Site).where(Site.workspace_id == workspace_id).order_by(Site.created_at)
            )
        )
        found = []
        for site in sites:
            domains = await self.session.scalars(
                select(SiteDomain.domain).where(SiteDomain.site_id == site.id)
            )
            found.append((site, list(domains)))
        return found
