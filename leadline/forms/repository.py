"""Every SQL statement for sites, their domains and forms, and the submissions of forms."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from leadline.db import Repository
from leadline.models import (
    CrmActivity,
    CrmSend,
    IpRule,
    Lead,
    LeadSubmission,
    Site,
    SiteDomain,
    SiteForm,
    VisitSession,
)


class SiteRepository(Repository):
    """Sites that are not deleted: a deleted site's key names nothing."""

    async def add(self, site: Site, domains: list[SiteDomain]) -> None:
        self.session.add(site)
        await self.session.flush()
        self.session.add_all(domains)
        await self.session.flush()

    async def by_key(self, site_key: str) -> tuple[Site, list[str]] | None:
        site = await self.session.scalar(
            select(Site).where(Site.site_key == site_key, Site.deleted_at.is_(None))
        )
        if site is None:
            return None
        return site, [row.domain for row in await self.domains(site.id)]

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


class SubmissionRepository(Repository):
    async def add(self, submission: LeadSubmission) -> None:
        self.session.add(submission)
        await self.session.flush()

    async def latest_visit_of(self, site_id: str, visitor_id: str) -> VisitSession | None:
        found: VisitSession | None = await self.session.scalar(
            select(VisitSession)
            .where(VisitSession.site_id == site_id, VisitSession.visitor_id == visitor_id)
            .order_by(VisitSession.started_at.desc())
            .limit(1)
        )
        return found

    async def lead_of(
        self,
        workspace_id: str,
        project: str,
        *,
        visitor_id: str | None,
        email: str | None,
        phone: str | None,
        ip: str | None,
    ) -> Lead | None:
        """The lead of the newest earlier submission to the project by the same visitor, else
        the same email, else the same phone; by the same address only when the submission
        names no visitor, email or phone (people behind one office's address are not one)."""
        for column, value in (
            (LeadSubmission.visitor_id, visitor_id),
            (LeadSubmission.email, email),
            (LeadSubmission.phone_e164, phone),
            (LeadSubmission.ip, None if visitor_id or email or phone else ip),
        ):
            if not value:
                continue
            lead_id = await self.session.scalar(
                select(LeadSubmission.lead_id)
                .where(
                    LeadSubmission.workspace_id == workspace_id,
                    LeadSubmission.project == project,
                    column == value,
                    LeadSubmission.lead_id.is_not(None),
                )
                .order_by(LeadSubmission.created_at.desc())
                .limit(1)
            )
            if lead_id is not None:
                lead: Lead | None = await self.session.get(Lead, lead_id)
                if lead is not None and lead.workspace_id == workspace_id:
                    return lead
        return None


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


class CrmRepository(Repository):
    async def latest_forward(self, lead_id: str) -> datetime | None:
        found: datetime | None = await self.session.scalar(
            select(func.max(LeadSubmission.forward_queued_at)).where(
                LeadSubmission.lead_id == lead_id
            )
        )
        return found

    async def submission(self, submission_id: str) -> LeadSubmission | None:
        return await self.session.get(LeadSubmission, submission_id)

    async def latest_submission_of(self, lead_id: str) -> LeadSubmission | None:
        found: LeadSubmission | None = await self.session.scalar(
            select(LeadSubmission)
            .where(LeadSubmission.lead_id == lead_id)
            .order_by(LeadSubmission.created_at.desc())
            .limit(1)
        )
        return found

    async def by_crm_lead_id(self, crm_lead_id: str) -> LeadSubmission | None:
        found: LeadSubmission | None = await self.session.scalar(
            select(LeadSubmission)
            .where(LeadSubmission.crm_lead_id == crm_lead_id)
            .order_by(LeadSubmission.created_at.desc())
            .limit(1)
        )
        return found

    async def lead(self, lead_id: str) -> Lead | None:
        return await self.session.get(Lead, lead_id)

    async def add_activity(self, activity: CrmActivity) -> None:
        self.session.add(activity)
        await self.session.flush()

    async def add_send(self, send: CrmSend) -> None:
        self.session.add(send)
        await self.session.flush()
