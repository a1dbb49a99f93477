"""Every SQL statement for sites, their domains and their forms."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from leadline.models import Site, SiteDomain, SiteForm


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


class FormRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, form: SiteForm) -> None:
        self.session.add(form)
        await self.session.flush()

    async def get(self, site_id: str, form_id: str) -> SiteForm | None:
        found: SiteForm | None = await self.session.scalar(
            select(SiteForm).where(SiteForm.site_id == site_id, SiteForm.form_id == form_id)
        )
        return found

    async def of_site(self, site_id: str) -> list[SiteForm]:
        return list(
            await self.session.scalars(
                select(SiteForm).where(SiteForm.site_id == site_id).order_by(SiteForm.form_id)
            )
        )
