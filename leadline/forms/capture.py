"""Lead capture: a form submission becomes a lead, or joins the lead it belongs to.

Every submission is kept with its own data (``lead_submissions``). Within a project (the
PROJECT field; one project when there is none) a submission joins the lead of an earlier one by
the same visitor, else the same email, else the same phone, else (when it names none of these)
the same address; otherwise it
makes a new lead, with the attribution of the visitor's tracked visit when it names one. A
submission that filled the honeypot is kept aside: stored, marked, never a lead.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pydantic
from sqlalchemy.ext.asyncio import AsyncSession

from leadline.audit import service as audit
from leadline.audit.service import Actor
from leadline.auth.service import Principal
from leadline.errors import ValidationFailed
from leadline.forms.repository import SubmissionRepository
from leadline.kit.ids import new_id
from leadline.kit.time import iso_millis, utcnow
from leadline.leads import service as leads
from leadline.leads.schemas import LeadCreate, LeadSource
from leadline.models import Lead, LeadSubmission
from leadline.webhooks import service as webhooks

# PulseGate's field names and what they are on a lead; every other field goes to ``custom``.
NAME_FIELDS = ("FIRSTNAME", "NAME", "name", "first_name")
EMAIL_FIELDS = ("EMAIL", "email")
PHONE_FIELDS = ("PHONE", "phone", "phone_mobile")
PROJECT_FIELD = "PROJECT"
COUNTRY_CODE_FIELD = "COUNTRYCODE"
MESSAGE_FIELD = "USER_MESSAGE"
MAX_FIELDS = 100
MAX_VALUE = 10_000
# Submitted faster than this many seconds after the form appeared: a person rarely manages.
TOO_FAST_SECONDS = 5.0
SOMEWHAT_FAST_SECONDS = 10.0


@dataclass
class Submission:
    """One submission as the surface read it: the form's fields (the scripts' own removed)
    and what the scripts and the request add."""

    fields: dict[str, str]
    ip: str | None = None
    user_agent: str | None = None
    visitor_id: str | None = None
    session_id: str | None = None
    honeypot: bool = False
    time_to_submit: float | None = None
    site_id: str | None = None
    form_id: str | None = None


@dataclass
class Captured:
    submission_id: str
    outcome: str  # created, merged or kept_aside
    lead_id: str | None
    suspicion_score: int = 0
    suspicion_reasons: list[str] = field(default_factory=list)


def _first(fields: dict[str, str], names: tuple[str, ...]) -> str | None:
    for name in names:
        value = fields.get(name, "").strip()
        if value:
            return value
    return None


def _phone(fields: dict[str, str]) -> str | None:
    phone = _first(fields, PHONE_FIELDS)
    code = fields.get(COUNTRY_CODE_FIELD, "").strip()
    if phone and code and not phone.startswith(("+", "00")):
        phone = f"{code if code.startswith('+') else '+' + code} {phone}"
    return phone


def suspicion(submission: Submission, visit_known: bool) -> tuple[int, list[str]]:
    """The suspicion score (0-100) of a submission and why (reference 3.5, the parts this
    server can see)."""
    reasons: list[tuple[int, str]] = []
    if submission.honeypot:
        reasons.append((40, "honeypot_filled"))
    tts = submission.time_to_submit
    if tts is not None:
        if tts < TOO_FAST_SECONDS:
            reasons.append((30, "submitted_under_5s"))
        elif tts < SOMEWHAT_FAST_SECONDS:
            reasons.append((10, "submitted_under_10s"))
    if not visit_known:
        reasons.append((15, "no_tracking_session"))
    return min(100, sum(points for points, _ in reasons)), [reason for _, reason in reasons]


def check_fields(fields: dict[str, str]) -> None:
    if len(fields) > MAX_FIELDS:
        raise ValidationFailed(f"{len(fields)} fields were sent; at most {MAX_FIELDS} are accepted")
    for name, value in fields.items():
        if len(value) > MAX_VALUE:
            raise ValidationFailed(
                f"the field {name} is {len(value)} characters; at most {MAX_VALUE} are accepted",
                details={"field": name},
            )
    if not any(value.strip() for value in fields.values()):
        raise ValidationFailed("the submission has no field with a value")


async def capture(
    session: AsyncSession, principal: Principal, submission: Submission, actor: Actor
) -> Captured:
    """Keep the submission and make or join its lead (see the module's docstring)."""
    check_fields(submission.fields)
    fields = submission.fields
    repo = SubmissionRepository(session)
    project = (fields.get(PROJECT_FIELD) or "").strip()[:200]
    email = _first(fields, EMAIL_FIELDS)
    phone = _phone(fields)
    email_key = leads.normalise_email(email) if email else None
    phone_key = leads.normalise_phone(phone) if phone else None
    visit = (
        await repo.visit(principal.workspace_id, submission.session_id)
        if submission.session_id
        else None
    )
    if visit is None and submission.visitor_id and submission.site_id:
        visit = await repo.latest_visit_of(submission.site_id, submission.visitor_id)
    score, reasons = suspicion(submission, visit is not None)
    row = LeadSubmission(
        id=new_id("sub"),
        workspace_id=principal.workspace_id,
        site_id=submission.site_id,
        form_id=submission.form_id,
        project=project,
        visitor_id=submission.visitor_id,
        session_id=visit.id if visit is not None else submission.session_id,
        email=email_key,
        phone_e164=phone_key,
        ip=submission.ip,
        user_agent=(submission.user_agent or "")[:512] or None,
        fields=json.dumps(fields, ensure_ascii=False),
        time_to_submit_ms=(
            int(submission.time_to_submit * 1000) if submission.time_to_submit is not None else None
        ),
        suspicion_score=score,
        suspicion_reasons=json.dumps(reasons),
        created_at=utcnow(),
    )
    if submission.honeypot:
        row.outcome = "kept_aside"
        await repo.add(row)
        return Captured(row.id, row.outcome, None, score, reasons)

    existing = await repo.lead_of(
        principal.workspace_id,
        project,
        visitor_id=submission.visitor_id,
        email=email_key,
        phone=phone_key,
        ip=submission.ip,
    )
    if existing is not None:
        _fill_blanks(existing, fields, email, phone)
        existing.updated_at = row.created_at
        row.lead_id, row.outcome = existing.id, "merged"
        await repo.add(row)
        await _announce(session, principal.workspace_id, existing, row, captured=False)
        await audit.record(
            session,
            principal.workspace_id,
            actor,
            "lead.submission_received",
            "lead",
            existing.id,
            {"submission": (None, row.id)},
        )
        return Captured(row.id, row.outcome, existing.id, score, reasons)

    custom = {
        name: value
        for name, value in fields.items()
        if name not in (*NAME_FIELDS, *EMAIL_FIELDS, *PHONE_FIELDS, COUNTRY_CODE_FIELD)
    }
    try:
        data = LeadCreate(
            name=_first(fields, NAME_FIELDS),
            email=email,
            phone=phone,
            custom=json.dumps(custom, ensure_ascii=False) if custom else None,
            note=(fields.get(MESSAGE_FIELD) or "").strip() or None,
            session_id=visit.id if visit is not None else None,
        )
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ValidationFailed(f"{where}: {first['msg']}", details={"field": where}) from None
    created = await leads.create_lead(
        session, principal, data, source=LeadSource.INBOUND, actor=actor
    )
    row.lead_id, row.outcome = created.lead.id, "created"
    await repo.add(row)
    await _announce(session, principal.workspace_id, created.lead, row, captured=True)
    return Captured(row.id, row.outcome, created.lead.id, score, reasons)


async def _announce(
    session: AsyncSession, workspace_id: str, lead: Lead, row: LeadSubmission, *, captured: bool
) -> None:
    """The webhook events of a submission that reached a lead (sent after the commit)."""
    submission = {
        "id": row.id,
        "outcome": row.outcome,
        "form_id": row.form_id,
        "project": row.project or None,
        "fields": json.loads(row.fields),
        "suspicion_score": row.suspicion_score,
        "created_at": iso_millis(row.created_at),
    }
    payload = {"lead": leads.webhook_lead(lead), "submission": submission}
    if captured:
        await webhooks.emit(session, workspace_id, "lead.captured", payload)
    await webhooks.emit(session, workspace_id, "lead.submission_received", payload)


def _fill_blanks(lead: Lead, fields: dict[str, str], email: str | None, phone: str | None) -> None:
    """What a later submission adds to its lead: only what the lead did not have."""
    if not lead.name:
        lead.name = _first(fields, NAME_FIELDS)
    if not lead.email and email:
        lead.email = leads.normalise_email(email)
    if not lead.phone and phone:
        lead.phone, lead.phone_e164 = phone, leads.normalise_phone(phone)


def submission_fields(raw: dict[str, Any]) -> dict[str, str]:
    """Field values as text: lists (a multi-select, a repeated key) are joined with commas."""
    found: dict[str, str] = {}
    for name, value in raw.items():
        if isinstance(value, list):
            text = ", ".join(str(item) for item in value if item is not None)
        elif isinstance(value, bool):
            text = "true" if value else "false"
        elif value is None:
            text = ""
        elif isinstance(value, dict):
            text = json.dumps(value, ensure_ascii=False)
        else:
            text = str(value)
        found[str(name)[:64]] = text
    return found
