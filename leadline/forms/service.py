"""Form submissions as other features see them: erasing a person's, and what the lead
reports read (the quarter-hour rollups, each lead's latest submission, a lead's own)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from leadline.forms.capture import SUSPICIOUS_FROM
from leadline.forms.repository import (
    BUCKET_MINUTES,
    Narrowing,
    RollupSums,
    SubmissionRepository,
)
from leadline.leads import erasure as leads
from leadline.models import LeadSubmission

__all__ = [
    "BUCKET_MINUTES",
    "REPORTED_OUTCOMES",
    "SUSPICIOUS_FROM",
    "ErasedSubmissions",
    "Narrowing",
    "RollupSums",
    "counts_of_leads",
    "delete_rollups_of_workspace",
    "erase_person",
    "latest_of_leads",
    "rollup_sums",
    "rollup_values",
    "submissions_of_lead",
]

# The outcomes the reports count as submissions: what the public sent. A blocked address's
# and the team's own (testing) are kept, never reported.
REPORTED_OUTCOMES: tuple[str, ...] = ("created", "merged", "kept_aside")


def _reported(by: Narrowing) -> Narrowing:
    return replace(by, outcomes=by.outcomes or REPORTED_OUTCOMES, suspicious_from=SUSPICIOUS_FROM)


async def rollup_sums(
    session: AsyncSession,
    workspace_id: str,
    start: datetime,
    end: datetime,
    by: Narrowing,
    groups: Sequence[str] = (),
) -> list[RollupSums]:
    """The reported submissions from ``start`` to ``end`` (excluded; both on a quarter hour,
    as every zone's midnight is) that meet ``by``, summed per value of ``groups`` (bucket,
    project, source, engagement_label, outcome)."""
    return await SubmissionRepository(session).rollup_sums(
        workspace_id, start, end, _reported(by), groups
    )


async def rollup_values(
    session: AsyncSession,
    workspace_id: str,
    start: datetime,
    end: datetime,
    by: Narrowing,
    column: str,
) -> list[str]:
    """The projects or sources (``column``) of the reported submissions of the period."""
    return await SubmissionRepository(session).rollup_values(
        workspace_id, start, end, _reported(by), column
    )


async def latest_of_leads(
    session: AsyncSession,
    workspace_id: str,
    start: datetime,
    end: datetime,
    by: Narrowing,
    *,
    before: tuple[datetime, str] | None,
    limit: int,
) -> list[LeadSubmission]:
    """Each lead's latest submission of the period among those that meet ``by``, newest
    first, continuing after ``before`` (a submission's time and id)."""
    return await SubmissionRepository(session).latest_of_leads(
        workspace_id, start, end, _reported(by), before=before, limit=limit
    )


async def counts_of_leads(
    session: AsyncSession,
    workspace_id: str,
    lead_ids: Sequence[str],
    start: datetime,
    end: datetime,
) -> dict[str, int]:
    """How many submissions each of ``lead_ids`` sent in the period."""
    return await SubmissionRepository(session).counts_of_leads(workspace_id, lead_ids, start, end)


async def submissions_of_lead(
    session: AsyncSession, workspace_id: str, lead_id: str, limit: int
) -> list[LeadSubmission]:
    """The workspace's lead's submissions, newest first, at most ``limit``."""
    return await SubmissionRepository(session).of_lead(workspace_id, lead_id, limit)


async def delete_rollups_of_workspace(session: AsyncSession, workspace_id: str, batch: int) -> int:
    """Delete up to ``batch`` of a closed workspace's submission rollups (a purge's step);
    0 once none is left. Its submissions go with its leads."""
    return await SubmissionRepository(session).delete_some_rollups(workspace_id, batch)


@dataclass(frozen=True)
class ErasedSubmissions:
    counts: dict[str, int]
    # The visits the submissions were sent from, for their owner to redact.
    visit_ids: list[str]


async def erase_person(
    session: AsyncSession,
    workspace_id: str,
    *,
    emails: Sequence[str],
    phones: Sequence[str],
    lead_ids: Sequence[str] = (),
) -> ErasedSubmissions:
    """Remove the submissions that carry one of ``emails`` or ``phones`` or belong to a lead
    that does, with what the CRM was sent and said about them. Run before the leads go.
    Their counts in the rollups stay: a count per quarter hour, project, source and label
    says nothing of who sent it (docs/adr/0009-submission-rollups.md)."""
    e164 = sorted({p for raw in phones if (p := leads.normalise_phone_quietly(raw))})
    lead_ids = await leads.ids_of_person(
        session, workspace_id, emails=emails, phones=phones, lead_ids=lead_ids
    )
    repo = SubmissionRepository(session)
    found = await repo.of_person(workspace_id, [e for e in emails if e], e164, lead_ids)
    counts = await repo.delete_with_crm_records(
        workspace_id, [submission.id for submission in found], lead_ids
    )
    return ErasedSubmissions(
        counts=counts,
        visit_ids=sorted({s.visit_id for s in found if s.visit_id}),
    )
