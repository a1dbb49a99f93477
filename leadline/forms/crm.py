"""Lead capture and the CRM: new and re-engaged leads are sent to the configured CRM (or
Make.com) URL by a job, each attempt logged; the CRM's callbacks store its lead id and
Make.com's execution log; the CRM's webhook reports changes to its leads, kept and matched."""

from __future__ import annotations

import hmac
import json
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from leadline.config import Settings
from leadline.errors import NotFound, ServiceUnavailable, Unauthorized, ValidationFailed
from leadline.forms.repository import CrmRepository
from leadline.jobs import service as jobs
from leadline.kit.ids import new_id
from leadline.kit.time import iso_millis, utcnow
from leadline.kit.urls import parse_url
from leadline.models import CrmActivity, Lead, LeadSubmission
from leadline.workspaces import service as workspaces

FORWARD = "forms.forward_lead"
# PulseGate's names for what the CRM receives, from the submission's fields.
_FORWARDED_FIELDS = {
    "first_name": ("FIRSTNAME", "NAME", "name", "first_name"),
    "email": ("EMAIL", "email"),
    "phone_mobile": ("PHONE", "phone", "phone_mobile"),
    "country_code": ("COUNTRYCODE",),
    "project_name": ("PROJECT",),
    "user_location": ("LOCATION",),
    "lead_source": ("SOURCE",),
    "source_team": ("TEAM",),
    "searched_keyword": ("KEYWORD",),
    "user_message": ("USER_MESSAGE",),
    "domain": ("DOMAIN",),
}
_ATTRIBUTION = ("gclid", "fbc", "msclkid", "utm_source", "utm_medium", "utm_campaign")


async def maybe_forward(
    session: AsyncSession, settings: Settings, submission: LeadSubmission, *, new_lead: bool
) -> bool:
    """Queue the submission's lead for the CRM when it is new, or when none of its
    submissions was queued within LEADLINE_LEAD_REENGAGE_HOURS; True when queued."""
    if not settings.crm_forward_url or submission.lead_id is None:
        return False
    if not new_lead:
        since = submission.created_at - timedelta(hours=settings.lead_reengage_hours)
        latest = await CrmRepository(session).latest_forward(submission.lead_id)
        if latest is not None and latest > since:
            return False
    submission.forward_queued_at = submission.created_at
    await jobs.enqueue(
        session,
        FORWARD,
        {"submission_id": submission.id, "reengaged": not new_lead},
        workspace_id=submission.workspace_id,
    )
    return True


def forward_body(lead: Lead, submission: LeadSubmission, reengaged: bool) -> dict[str, Any]:
    """What the CRM receives: the submission in PulseGate's names, the lead's attribution, and
    the ids its callbacks send back."""
    fields: dict[str, str] = json.loads(submission.fields)
    body: dict[str, Any] = {
        "lead_id": lead.id,
        "submission_id": submission.id,
        "reengaged": reengaged,
        "created_at": iso_millis(submission.created_at),
    }
    for name, sources in _FORWARDED_FIELDS.items():
        value = next((fields[source] for source in sources if fields.get(source)), None)
        if value is not None:
            body[name] = value
    body.update(
        {
            "visitor_id": submission.visitor_id,
            # PulseGate's name for the visit.
            "session_id": submission.visit_id,
            "user_ip": submission.ip,
            "user_agent": submission.user_agent,
            "suspicion_score": submission.suspicion_score,
            "engagement_score": submission.engagement_score,
            "engagement_label": submission.engagement_label,
            "fields": fields,
        }
    )
    for name in _ATTRIBUTION:
        value = getattr(lead, name, None)
        if value:
            body[name] = value
    return {name: value for name, value in body.items() if value is not None}


def check_secret(settings: Settings, given: str | None, *, webhook: bool) -> None:
    """The CRM's callbacks carry CRM_CALLBACK_SECRET; its webhook CRM_WEBHOOK_SECRET, or the
    callback secret when there is no webhook secret. None configured: 503."""
    expected = (
        settings.crm_webhook_secret or settings.crm_callback_secret
        if webhook
        else settings.crm_callback_secret
    )
    if not expected:
        raise ServiceUnavailable(
            "no CRM secret is configured on this server (LEADLINE_CRM_"
            + ("WEBHOOK" if webhook else "CALLBACK")
            + "_SECRET)"
        )
    if not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise Unauthorized("wrong or missing CRM secret")


def _text(body: dict[str, Any], name: str, limit: int) -> str | None:
    value = body.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValidationFailed(f"{name} must be text", details={"field": name})
    text = str(value).strip()
    if len(text) > limit:
        raise ValidationFailed(f"{name} is longer than {limit} characters", details={"field": name})
    return text or None


async def _submission_of(session: AsyncSession, body: dict[str, Any]) -> LeadSubmission:
    submission_id = _text(body, "submission_id", 40)
    lead_id = _text(body, "lead_id", 40)
    if submission_id is None and lead_id is None:
        raise ValidationFailed(
            "send submission_id (or lead_id)", details={"field": "submission_id"}
        )
    repo = CrmRepository(session)
    found = (
        await repo.submission(submission_id)
        if submission_id
        else await repo.latest_submission_of(lead_id or "")
    )
    if found is None:
        raise NotFound(f"no submission {submission_id or 'of lead ' + str(lead_id)}")
    await _refuse_closed(session, found.workspace_id)
    return found


async def _refuse_closed(session: AsyncSession, workspace_id: str) -> None:
    """A closed workspace takes no change, the CRM's included (409, as on every surface)."""
    workspaces.refuse_writes(await workspaces.get(session, workspace_id))


async def crm_callback(session: AsyncSession, body: dict[str, Any]) -> LeadSubmission:
    """The CRM made its record of a forwarded lead: keep its id with the submission."""
    crm_lead_id = _text(body, "crm_lead_id", 128)
    if crm_lead_id is None:
        raise ValidationFailed("crm_lead_id is required", details={"field": "crm_lead_id"})
    submission = await _submission_of(session, body)
    submission.crm_lead_id = crm_lead_id
    await session.flush()
    return submission


async def make_callback(session: AsyncSession, body: dict[str, Any]) -> LeadSubmission:
    """Make.com's scenario ran for a forwarded lead: keep its execution log URL and status."""
    url = _text(body, "execution_url", 2048)
    parsed = parse_url(url) if url is not None else None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValidationFailed(
            "execution_url must be an http(s) URL", details={"field": "execution_url"}
        )
    submission = await _submission_of(session, body)
    submission.make_execution_url = url
    submission.make_status = _text(body, "status", 64)
    await session.flush()
    return submission


async def crm_webhook(session: AsyncSession, body: dict[str, Any]) -> dict[str, Any]:
    """A change to a lead in the CRM: kept in ``crm_activity`` with the lead it matches (by
    the CRM lead id the callback stored). No match still answers 200, so the CRM does not
    retry."""
    crm_lead_id = _text(body, "crm_lead_id", 128)
    if crm_lead_id is None:
        raise ValidationFailed("crm_lead_id is required", details={"field": "crm_lead_id"})
    event_type = _text(body, "event_type", 64) or "updated"
    submission = await CrmRepository(session).by_crm_lead_id(crm_lead_id)
    if submission is None or submission.lead_id is None:
        return {"ok": True, "stored": False, "reason": f"no lead has the CRM id {crm_lead_id}"}
    await _refuse_closed(session, submission.workspace_id)
    activity = CrmActivity(
        id=new_id("crm"),
        workspace_id=submission.workspace_id,
        lead_id=submission.lead_id,
        crm_lead_id=crm_lead_id,
        event_type=event_type,
        payload=json.dumps(body, ensure_ascii=False),
        received_at=utcnow(),
    )
    await CrmRepository(session).add_activity(activity)
    return {"ok": True, "stored": True, "lead_id": submission.lead_id}
