"""Erasure: one transaction removes a person from every feature that holds them.

The order matters: submissions go before the leads they belong to (so the CRM's records of
those leads are found), the leads leave tombstones, and the visits both came from are
redacted last. The receipt names what was matched only in masked form, counts the rows each
table lost or had redacted, and carries a SHA-256 over all of it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from leadline.audit import service as audit
from leadline.audit.service import Actor
from leadline.auth.service import Principal
from leadline.errors import NotFound, ValidationFailed
from leadline.forms import service as forms
from leadline.inbox import contacts as inbox_contacts
from leadline.kit.ids import new_id
from leadline.kit.jsonsafe import canonical_json
from leadline.kit.time import iso_millis, utcnow
from leadline.leads import erasure as lead_erasure
from leadline.leads import service as leads
from leadline.models import Erasure
from leadline.privacy.repository import ErasureRepository
from leadline.tracking import visits
from leadline.webhooks import service as webhooks


@dataclass(frozen=True)
class Receipt:
    id: str
    workspace_id: str
    erased_at: datetime
    actor: Actor
    contact_id: str | None
    matched: dict[str, str]
    counts: dict[str, int]
    receipt_hash: str


def _receipt_of(erasure: Erasure) -> Receipt:
    return Receipt(
        id=erasure.id,
        workspace_id=erasure.workspace_id,
        erased_at=erasure.created_at,
        actor=Actor(erasure.actor_type, erasure.actor_id),  # type: ignore[arg-type]
        contact_id=erasure.contact_id,
        matched=json.loads(erasure.matched),
        counts=json.loads(erasure.counts),
        receipt_hash=erasure.receipt_hash,
    )


def receipt_hash(
    erasure_id: str,
    workspace_id: str,
    erased_at: datetime,
    actor: Actor,
    contact_id: str | None,
    matched: Mapping[str, str],
    counts: Mapping[str, int],
) -> str:
    """SHA-256 over the receipt's canonical JSON: anyone holding a receipt can check it."""
    body = {
        "id": erasure_id,
        "workspace_id": workspace_id,
        "erased_at": iso_millis(erased_at),
        "actor": {"type": actor.type, "id": actor.id},
        "contact_id": contact_id,
        "matched": dict(matched),
        "counts": dict(counts),
    }
    return hashlib.sha256(canonical_json(body).encode()).hexdigest()


def _matched(emails: list[str], phones: list[str]) -> dict[str, str]:
    matched = {}
    for n, email in enumerate(emails):
        matched[f"email{n or ''}"] = leads.mask_email(email) or ""
    for n, phone in enumerate(phones):
        matched[f"phone{n or ''}"] = leads.mask_phone(phone) or ""
    return matched


async def erase(
    session: AsyncSession,
    workspace_id: str,
    actor: Actor,
    *,
    emails: list[str],
    phones: list[str],
    contact_id: str | None = None,
    erasure_id: str | None = None,
    counted: Mapping[str, int] | None = None,
    lead_ids: list[str] | None = None,
) -> Receipt:
    """Remove the person with ``emails`` or ``phones`` from the workspace's submissions,
    leads and visits, in the caller's transaction, and keep a receipt. ``counted`` adds rows
    the caller has already erased (a contact's, by the inbox)."""
    emails = sorted({e.strip() for e in emails if e and e.strip()})
    phones = sorted({p.strip() for p in phones if p and p.strip()})
    if not emails and not phones and contact_id is None:
        raise ValidationFailed("name an email or a phone to erase", details={"field": "email"})
    erasure_id = erasure_id or new_id("era")
    submissions = await forms.erase_person(
        session, workspace_id, emails=emails, phones=phones, lead_ids=lead_ids or ()
    )
    erased = await lead_erasure.erase_person(
        session,
        workspace_id,
        emails=emails,
        phones=phones,
        erasure_id=erasure_id,
        lead_ids=lead_ids or (),
    )
    redacted = await visits.redact(
        session, workspace_id, [*submissions.visit_ids, *erased.visit_ids]
    )
    counts = {
        **dict(counted or {}),
        **submissions.counts,
        "leads": len(erased.lead_ids),
        "lead_status_changes": erased.status_changes,
        **redacted,
    }
    now = utcnow()
    matched = _matched(emails, phones)
    digest = receipt_hash(erasure_id, workspace_id, now, actor, contact_id, matched, counts)
    erasure = Erasure(
        id=erasure_id,
        workspace_id=workspace_id,
        actor_type=actor.type,
        actor_id=actor.id,
        contact_id=contact_id,
        matched=canonical_json(matched),
        counts=canonical_json(counts),
        receipt_hash=digest,
        created_at=now,
    )
    await ErasureRepository(session).add(erasure)
    # The log keeps that an erasure happened and its counts, never what was erased.
    await audit.record(
        session,
        workspace_id,
        actor,
        "person.erased",
        "erasure",
        erasure_id,
        {"counts": (None, counts), "receipt_hash": (None, digest)},
    )
    await webhooks.emit(
        session,
        workspace_id,
        "contact.erased",
        {
            "erasure_id": erasure_id,
            **({"contact_id": contact_id} if contact_id else {}),
            "erased_at": iso_millis(now),
            "counts": counts,
        },
    )
    return _receipt_of(erasure)


async def erase_contact(session: AsyncSession, principal: Principal, contact_id: str) -> Receipt:
    """Erase an inbox contact: the contact and their conversations' text (the inbox's part),
    then every submission, lead and visit of their emails and phones and of the leads they
    became, in one transaction; ``contact.erased`` is sent."""
    found = await inbox_contacts.erase(session, principal.workspace_id, contact_id)
    return await erase(
        session,
        principal.workspace_id,
        principal.actor,
        emails=found.emails,
        phones=found.phones,
        contact_id=contact_id,
        counted=found.counts,
        lead_ids=found.lead_ids,
    )


async def receipt(session: AsyncSession, workspace_id: str, erasure_id: str) -> Receipt:
    found = (
        None
        if "\x00" in erasure_id
        else await ErasureRepository(session).get(workspace_id, erasure_id)
    )
    if found is None:
        raise NotFound(f"no erasure {erasure_id} in this workspace", resource="erasure")
    return _receipt_of(found)
