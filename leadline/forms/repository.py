"""Every SQL statement for form submissions and what the CRM did with them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from sqlalchemy import delete, func, or_, select

from leadline.db import Repository
from leadline.models import CrmActivity, CrmSend, LeadSubmission

# What names the person behind a submission, from the surest to the least sure.
SubmitterKey = Literal["visitor_id", "email", "phone_e164", "ip"]
_SUBMITTER_COLUMNS = {
    "visitor_id": LeadSubmission.visitor_id,
    "email": LeadSubmission.email,
    "phone_e164": LeadSubmission.phone_e164,
    "ip": LeadSubmission.ip,
}


class SubmissionRepository(Repository):
    async def outcomes_between(
        self, workspace_id: str, site_ids: Sequence[str], since: datetime, until: datetime
    ) -> dict[str, int]:
        """The sites' submissions made from ``since`` to ``until`` (excluded), per outcome."""
        if not site_ids:
            return {}
        rows = await self.session.execute(
            select(LeadSubmission.outcome, func.count())
            .where(
                LeadSubmission.workspace_id == workspace_id,
                LeadSubmission.site_id.in_(site_ids),
                LeadSubmission.created_at >= since,
                LeadSubmission.created_at < until,
            )
            .group_by(LeadSubmission.outcome)
        )
        return {str(outcome): int(count) for outcome, count in rows}

    async def add(self, submission: LeadSubmission) -> None:
        self.session.add(submission)
        await self.session.flush()

    async def latest_lead_id(
        self, workspace_id: str, project: str, by: SubmitterKey, value: str
    ) -> str | None:
        """The lead of the newest earlier submission to the project whose ``by`` is ``value``."""
        found: str | None = await self.session.scalar(
            select(LeadSubmission.lead_id)
            .where(
                LeadSubmission.workspace_id == workspace_id,
                LeadSubmission.project == project,
                _SUBMITTER_COLUMNS[by] == value,
                LeadSubmission.lead_id.is_not(None),
            )
            .order_by(LeadSubmission.created_at.desc())
            .limit(1)
        )
        return found

    async def of_person(
        self,
        workspace_id: str,
        emails: Sequence[str],
        phones: Sequence[str],
        lead_ids: Sequence[str],
    ) -> list[LeadSubmission]:
        """The workspace's submissions with one of ``emails`` or ``phones`` (E.164), or made
        for one of ``lead_ids``."""
        matches = []
        if emails:
            matches.append(func.lower(LeadSubmission.email).in_([e.lower() for e in emails]))
        if phones:
            matches.append(LeadSubmission.phone_e164.in_(phones))
        if lead_ids:
            matches.append(LeadSubmission.lead_id.in_(lead_ids))
        if not matches:
            return []
        result = await self.session.scalars(
            select(LeadSubmission).where(LeadSubmission.workspace_id == workspace_id, or_(*matches))
        )
        return list(result)

    async def delete_with_crm_records(
        self, workspace_id: str, submission_ids: Sequence[str], lead_ids: Sequence[str]
    ) -> dict[str, int]:
        """Remove submissions, their CRM sends, and the CRM's reports about ``lead_ids``;
        how many rows of each table went."""
        counts = {"lead_submissions": len(submission_ids), "crm_sends": 0, "crm_activity": 0}
        if submission_ids:
            sends = await self.session.execute(
                delete(CrmSend).where(CrmSend.submission_id.in_(submission_ids))
            )
            counts["crm_sends"] = sends.rowcount  # type: ignore[attr-defined]
        if lead_ids:
            activity = await self.session.execute(
                delete(CrmActivity).where(
                    CrmActivity.workspace_id == workspace_id, CrmActivity.lead_id.in_(lead_ids)
                )
            )
            counts["crm_activity"] = activity.rowcount  # type: ignore[attr-defined]
        if submission_ids:
            await self.session.execute(
                delete(LeadSubmission).where(
                    LeadSubmission.workspace_id == workspace_id,
                    LeadSubmission.id.in_(submission_ids),
                )
            )
        return counts


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

    async def add_activity(self, activity: CrmActivity) -> None:
        self.session.add(activity)
        await self.session.flush()

    async def add_send(self, send: CrmSend) -> None:
        self.session.add(send)
        await self.session.flush()
