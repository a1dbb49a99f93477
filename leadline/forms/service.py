"""Form submissions as other features see them: erasing a person's."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from leadline.forms.repository import SubmissionRepository
from leadline.leads import erasure as leads


@dataclass(frozen=True, slots=True)
class SubmissionCounts:
    """A period's submissions from a set of sites: those that made a new lead (``leads``)
    and all that made or joined one (``submissions``); bots' and test submissions, kept
    aside, are in neither."""

    leads: int
    submissions: int


async def submissions_between(
    session: AsyncSession,
    workspace_id: str,
    site_ids: Sequence[str],
    since: datetime,
    until: datetime,
) -> SubmissionCounts:
    """The sites' submissions made from ``since`` to ``until`` (excluded)."""
    outcomes = await SubmissionRepository(session).outcomes_between(
        workspace_id, site_ids, since, until
    )
    created = outcomes.get("created", 0)
    return SubmissionCounts(leads=created, submissions=created + outcomes.get("merged", 0))


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
    that does, with what the CRM was sent and said about them. Run before the leads go."""
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
