"""Every SQL statement for sites, their domains and forms, and the submissions of forms."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from leadline.models import (
    CrmActivity,
    CrmSend,
    Lead,
    LeadSubmission,
    VisitSession,
)


class SubmissionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

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


class CrmRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

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
