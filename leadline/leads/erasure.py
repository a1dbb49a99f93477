"""Erasing a person from the pipeline: their leads go, with their status history, and the
counts that stand for them; tombstones (see ``tombstones``) stay."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from leadline.kit.ids import new_id
from leadline.kit.time import utcnow
from leadline.leads import tombstones
from leadline.leads.facets import facets_of
from leadline.leads.repository import LeadRepository
from leadline.workspaces import service as workspaces


@dataclass(frozen=True)
class ErasedLeads:
    """What erasing a person removed from the pipeline."""

    lead_ids: list[str]
    visit_ids: list[str]
    status_changes: int


async def erase_person(
    session: AsyncSession,
    workspace_id: str,
    *,
    emails: Sequence[str],
    phones: Sequence[str],
    erasure_id: str,
    lead_ids: Sequence[str] = (),
) -> ErasedLeads:
    """Remove every lead of the workspace with one of ``emails`` or ``phones`` (with its status
    history; the facets and the lead count follow), and leave tombstones of them so a lead
    from the same person later is recognised (see ``erasure``). The visits the leads came
    from are returned for their owner to redact."""
    repo = LeadRepository(session)
    found = await repo.matching_person(
        workspace_id, [e for e in emails if e], _phone_forms(phones), lead_ids
    )
    lead_ids = [lead.id for lead in found]
    changes = await repo.count_status_changes(lead_ids)
    facets: Counter[str] = Counter()
    for lead in found:
        facets.subtract(facets_of(lead))
    await repo.delete(workspace_id, lead_ids)
    if found:
        await repo.add_to_facets(workspace_id, facets)
        await workspaces.count_new_leads(session, workspace_id, -len(found))
    identities = {one for email in emails for one in tombstones.identities(email, None)}
    identities |= {one for phone in phones for one in tombstones.identities(None, phone)}
    for lead in found:
        identities.update(tombstones.identities(lead.email, lead.phone_e164 or lead.phone))
    key = await workspaces.ensure_secret_key(session, None)
    by_digest = {tombstones.digest(key, identity): identity for identity in identities}
    already = await repo.tombstoned(workspace_id, list(by_digest))
    now = utcnow()
    await repo.add_tombstones(
        [
            {
                "id": new_id("tomb"),
                "workspace_id": workspace_id,
                "kind": identity.kind,
                "digest": value,
                "erasure_id": erasure_id,
                "created_at": now,
            }
            for value, identity in sorted(by_digest.items())
            if value not in already
        ]
    )
    return ErasedLeads(
        lead_ids=lead_ids,
        visit_ids=sorted({lead.visit_id for lead in found if lead.visit_id}),
        status_changes=changes,
    )


async def ids_of_person(
    session: AsyncSession,
    workspace_id: str,
    *,
    emails: Sequence[str],
    phones: Sequence[str],
    lead_ids: Sequence[str] = (),
) -> list[str]:
    """The ids of the workspace's leads with one of ``emails`` or ``phones`` (and
    ``lead_ids`` that are the workspace's)."""
    found = await LeadRepository(session).matching_person(
        workspace_id, [e for e in emails if e], _phone_forms(phones), lead_ids
    )
    return [lead.id for lead in found]


def _phone_forms(phones: Sequence[str]) -> list[str]:
    """Each phone as given and in E.164, to match leads by either."""
    return sorted({p for raw in phones if raw for p in (raw, normalise_phone_quietly(raw)) if p})


def normalise_phone_quietly(raw: str) -> str | None:
    """``raw`` in E.164 when it is a valid number; None otherwise (never refused)."""
    identity = tombstones.phone_identity(raw)
    return identity.value if identity is not None and identity.value.startswith("+") else None
