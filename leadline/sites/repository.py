"""Every SQL statement for sites, their domains, their forms' definitions and the workspaces'
address rules."""

from __future__ import annotations

from sqlalchemy import select

from leadline.db import Repository
from leadline.models import IpRule, Site, SiteDomain, SiteForm, Workspace


class SiteRepository(Repository):
    """Sites that are not deleted: a deleted site's key names nothing."""

    async def add(self, site: Site, domains: list[SiteDomain]) -> None:
        self.session.add(site)
        await self.session.flush()
        self.session.add_all(domains)
        await self.session.flush()

    async def by_key(self, site_key: str) -> tuple[Site, list[str], bool] | None:
        """The site, its domains, and whether its workspace is closed."""
        found = (
            await self.session.execute(
                select(Site, Workspace.status)
                .join(Workspace, Workspace.id == Site.workspace_id)
                .where(Site.site_key == site_key, Site.deleted_at.is_(None))
            )
        ).first()
        if found is None:
            return None
        site, status = found
        return site, [row.domain for row in await self.domains(site.id)], status == "closed"

    async def ids_of_workspace(self, workspace_id: str) -> list[str]:
        """The ids of every site the workspace has had, deleted ones too."""
        result = await self.session.scalars(
            select(Site.id).where(Site.workspace_id == workspace_id).order_by(Site.id)
        )
        return list(result)

    async def key_taken(self, site_key: str) -> bool:
        """Whether any site, deleted ones too, has ever had ``site_key``."""
        return (
            await self.session.scalar(select(Site.id).where(Site.site_key == site_key))
        ) is not None

    async def get(self, workspace_id: str, site_id: str) -> Site | None:
        found: Site | None = await self.session.scalar(
            select(Site).where(
                Site.id == site_id, Site.workspace_id == workspace_id, Site.deleted_at.is_(None)
            )
        )
        return found

    async def of_workspace(self, workspace_id: str) -> list[tuple[Site, list[SiteDomain]]]:
        sites = list(
            await self.session.scalars(
                select(Site)
                .where(Site.workspace_id == workspace_id, Site.deleted_at.is_(None))
                .order_by(Site.created_at, Site.id)
            )
        )
        by_site: dict[str, list[SiteDomain]] = {site.id: [] for site in sites}
        if sites:
            for row in await self.session.scalars(
                select(SiteDomain)
                .where(SiteDomain.site_id.in_(list(by_site)))
                .order_by(SiteDomain.domain)
            ):
                by_site[row.site_id].append(row)
        return [(site, by_site[site.id]) for site in sites]

    async def domains(self, site_id: str) -> list[SiteDomain]:
        return list(
            await self.session.scalars(
                select(SiteDomain).where(SiteDomain.site_id == site_id).order_by(SiteDomain.domain)
            )
        )

    async def add_domain(self, domain: SiteDomain) -> None:
        self.session.add(domain)
        await self.session.flush()

    async def remove_domain(self, domain: SiteDomain) -> None:
        await self.session.delete(domain)
        await self.session.flush()


class FormRepository(Repository):
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

    async def by_id(self, workspace_id: str, form_row_id: str) -> SiteForm | None:
        """A form of a site that is not deleted, by its own id (``form_...``)."""
        found: SiteForm | None = await self.session.scalar(
            select(SiteForm)
            .join(Site, Site.id == SiteForm.site_id)
            .where(
                SiteForm.id == form_row_id,
                SiteForm.workspace_id == workspace_id,
                Site.deleted_at.is_(None),
            )
        )
        return found

    async def of_workspace(self, workspace_id: str, site_id: str | None) -> list[SiteForm]:
        query = (
            select(SiteForm)
            .join(Site, Site.id == SiteForm.site_id)
            .where(SiteForm.workspace_id == workspace_id, Site.deleted_at.is_(None))
        )
        if site_id is not None:
            query = query.where(SiteForm.site_id == site_id)
        return list(await self.session.scalars(query.order_by(SiteForm.created_at, SiteForm.id)))

    async def remove(self, form: SiteForm) -> None:
        await self.session.delete(form)
        await self.session.flush()


class IpRuleRepository(Repository):
    async def of_workspace(self, workspace_id: str) -> list[IpRule]:
        return list(
            await self.session.scalars(
                select(IpRule).where(IpRule.workspace_id == workspace_id).order_by(IpRule.network)
            )
        )

    async def add(self, rule: IpRule) -> None:
        self.session.add(rule)
        await self.session.flush()

    async def remove(self, rule: IpRule) -> None:
        await self.session.delete(rule)
        await self.session.flush()
