"""Lead capture: a form submission becomes a lead, or joins the lead it belongs to.

Every submission is kept with its own data (``lead_submissions``). Within a project (the
PROJECT field; one project when there is none) a submission joins the lead of an earlier one by
the same visitor, else the same email, else the same phone, else (when it names none of these)
the same address; otherwise it
makes a new lead, with the attribution of the visitor's tracked visit when it names one. A
submission that filled the honeypot is kept aside: stored, marked, never a lead; so is one from an
address on the workspace's block list (``blocked``) or allow list (the team's own: ``testing``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pydantic
from sqlalchemy.ext.asyncio import AsyncSession

from leadline.audit import service as audit
from leadline.audit.service import Actor
from leadline.auth.roles import Permission
from leadline.auth.service import Principal
from leadline.config import Settings
from leadline.db import Database
from leadline.errors import Forbidden, ValidationFailed
from leadline.forms import crm
from leadline.forms.repository import SubmissionRepository, SubmitterKey
from leadline.kit.ids import new_id
from leadline.kit.time import iso_millis, utcnow
from leadline.kit.urls import parse_url
from leadline.leads import service as leads
from leadline.leads.schemas import LeadAttribution, LeadCreate, LeadSource
from leadline.models import Lead, LeadSubmission, Visit
from leadline.sites import service as sites
from leadline.sites.cache import CaptureSites
from leadline.sites.ip_rules import AddressRules
from leadline.tracking import visits
from leadline.webhooks import service as webhooks
from leadline.workspaces import service as workspaces

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
# A submission scoring this much or more is suspicious in the reports: a filled honeypot
# alone, or a post under five seconds from someone the tracker never saw.
SUSPICIOUS_FROM = 40
# The fields that say where a submission came from (PulseGate's lead_source), first first.
SOURCE_FIELDS = ("SOURCE", "source", "lead_source")
MAX_SOURCE = 100


# The longest session id a visit has.
MAX_VISIT_ID = 64


@dataclass
class Submission:
    """One submission as the surface read it: the form's fields (the scripts' own removed)
    and what the scripts and the request add."""

    fields: dict[str, str]
    ip: str | None = None
    user_agent: str | None = None
    visitor_id: str | None = None
    visit_id: str | None = None
    honeypot: bool = False
    time_to_submit: float | None = None
    site_id: str | None = None
    form_id: str | None = None
    # Whether the form's consent box was ticked; None when the form has none.
    contact_consent: bool | None = None
    # Click IDs and tags the sender knew (cookies, say); a tracked visit's win over them.
    attribution: dict[str, str] = field(default_factory=dict)
    source: LeadSource = LeadSource.INBOUND


# Fields named like a lead's click IDs and tags (form.js sends the visit's under their own
# names) are the lead's attribution, not custom data. (Not "website": a form may ask for one.)
ATTRIBUTION_NAMES = frozenset(LeadAttribution.model_fields) - {
    "website",
    "path",
    "ad_storage",
    "ad_user_data",
    "ad_personalization",
    "analytics_storage",
}


# ------------------------------------------------------------------------ who may send


@dataclass(frozen=True)
class Sender:
    """Who sends a submission, once checked: the caller the lead is made as, the actor the
    audit log names, the address rules of its workspace, the site it came through (if known)
    with its domains, and its form's thank-you page."""

    principal: Principal
    actor: Actor
    address_rules: AddressRules
    site_id: str | None = None
    thank_you_url: str | None = None
    site_domains: tuple[str, ...] = ()


async def sender_with_key(
    checks: CaptureSites,
    database: Database,
    principal: Principal,
    site_key: str | None,
    form_id: str | None = None,
) -> Sender:
    """A backend sending with an API key (``principal`` is its): any key or token that may
    write leads (integration, admin; an owner's or admin's token), no page check; a site key
    of the key's workspace is kept for attribution, and with it the site's domains and the
    thank-you page of its form ``form_id``, for the answer to a browser's post. Read from
    memory (``checks``), from ``database`` on a miss."""
    if not principal.may(Permission.LEADS_WRITE):
        raise Forbidden(
            "lead capture takes an integration key, an admin key, or an owner's or admin's token"
        )
    actor = principal.actor
    rules = await checks.address_rules(database, principal.workspace_id)
    found = await checks.site(database, site_key) if site_key else None
    if found is None or found.workspace_id != principal.workspace_id:
        return Sender(principal, actor, rules)
    thank_you = found.forms.get(form_id) if form_id else None
    return Sender(principal, actor, rules, found.site_id, thank_you, tuple(found.domains))


async def sender_from_page(
    checks: CaptureSites,
    database: Database,
    site_key: str,
    page_host: str | None,
    *,
    form_id: str | None,
    actor: str,
) -> Sender:
    """A browser on a page of the site. With ``form_id`` (a form's own submission) both must
    be given and the site must have that form, enabled; without (the WordPress plugin's,
    whose forms are the site's own) the site alone is checked. Anything else is 403. Read
    from memory (``checks``), from ``database`` on a miss."""
    if form_id is not None and (not site_key or not form_id):
        raise Forbidden(
            "send an integration key in X-API-Key, or siteKey and formId from a page of the site"
        )
    site = await checks.for_page(database, site_key, page_host)
    thank_you = None
    if form_id is not None:
        if form_id not in site.forms:
            raise Forbidden(f"the site has no form {form_id}")
        thank_you = site.forms[form_id]
    # A capture is a write: a closed workspace takes none (409).
    workspaces.refuse_writes(site.principal.workspace)
    rules = await checks.address_rules(database, site.workspace_id)
    return Sender(
        site.principal,
        Actor.system(actor),
        rules,
        site.site_id,
        thank_you,
        tuple(site.domains),
    )


def redirect_after_post(sender: Sender, referer: str | None) -> str | None:
    """Where a browser's own form post is sent once captured: the form's thank-you page, else
    back to the page it came from when that page is on one of the site's domains; None when
    neither, and the post is answered without a redirect. Never anywhere else: redirecting to
    any Referer would make this an open redirect, which a page anywhere could use to send its
    visitors on under this server's name."""
    if sender.thank_you_url and _web_host(sender.thank_you_url) is not None:
        return sender.thank_you_url
    host = _web_host(referer) if referer else None
    if host is not None and sites.host_allowed(host, list(sender.site_domains)):
        return referer
    return None


def _web_host(url: str) -> str | None:
    """The host of an absolute http(s) URL, or None. A URL that browsers could read with
    another host than Python does (a backslash, user info, spaces or control characters) has
    none: the host checked must be the host the browser goes to."""
    if "\\" in url or not url.isprintable() or any(ch.isspace() for ch in url):
        return None
    parsed = parse_url(url)
    if parsed is None or parsed.scheme not in ("http", "https") or "@" in urlsplit(url).netloc:
        return None
    return parsed.host or None


# ------------------------------------------------------------------------------- capture


@dataclass
class Captured:
    submission_id: str
    outcome: str  # created, merged or kept_aside
    lead_id: str | None


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


def suspicion(
    submission: Submission, visit_known: bool, engagement_score: int | None = None
) -> tuple[int, list[str]]:
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
    elif engagement_score == 0:
        reasons.append((10, "no_engagement"))
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


@dataclass(slots=True)
class _Contact:
    """Who a submission says sent it: as given, and as the keys that find their lead."""

    project: str
    email: str | None
    phone: str | None
    email_key: str | None
    phone_key: str | None


def _contact_of(fields: dict[str, str]) -> _Contact:
    project = (fields.get(PROJECT_FIELD) or "").strip()[:200]
    email = _first(fields, EMAIL_FIELDS)
    phone = _phone(fields)
    email_key = leads.normalise_email(email) if email else None
    phone_key = leads.normalise_phone(phone) if phone else None
    return _Contact(project, email, phone, email_key, phone_key)


def _named_visit_id(submission: Submission) -> str | None:
    # A longer id than a visit's names none (and would not fit lead_submissions.visit_id).
    visit_id = submission.visit_id
    if visit_id is not None and len(visit_id) > MAX_VISIT_ID:
        return None
    return visit_id


async def _tracked_visit(
    session: AsyncSession,
    workspace_id: str,
    submission: Submission,
    visit_id: str | None,
) -> Visit | None:
    """The visit the submission names, else the visitor's latest on the site."""
    visit = await visits.visit_of(session, workspace_id, visit_id) if visit_id else None
    if visit is None and submission.visitor_id and submission.site_id:
        visit = await visits.latest_visit_of(session, submission.site_id, submission.visitor_id)
    return visit


def source_of(fields: dict[str, str], visit: Visit | None) -> str:
    """Where a submission came from, for the reports: its SOURCE field, else the utm_source
    it or its visit carried, else its visit's channel (paid, search, social, referral,
    direct); "" when none says."""
    found = _first(fields, SOURCE_FIELDS) or (fields.get("utm_source") or "").strip()
    if not found and visit is not None:
        found = (visit.utm_source or "").strip() or (visit.channel or "")
    return found[:MAX_SOURCE]


def _submission_row(
    workspace_id: str,
    submission: Submission,
    contact: _Contact,
    visit: Visit | None,
    visit_id: str | None,
) -> LeadSubmission:
    """The submission as stored, scored for engagement and suspicion; no outcome yet."""
    engaged = visits.engagement_now(visit) if visit is not None else None
    score, reasons = suspicion(submission, visit is not None, engaged[0] if engaged else None)
    return LeadSubmission(
        id=new_id("sub"),
        workspace_id=workspace_id,
        site_id=submission.site_id,
        form_id=submission.form_id,
        project=contact.project,
        source=source_of(submission.fields, visit),
        visitor_id=submission.visitor_id,
        visit_id=visit.id if visit is not None else visit_id,
        email=contact.email_key,
        phone_e164=contact.phone_key,
        ip=submission.ip,
        user_agent=(submission.user_agent or "")[:512] or None,
        fields=json.dumps(submission.fields, ensure_ascii=False),
        time_to_submit_ms=(
            int(submission.time_to_submit * 1000) if submission.time_to_submit is not None else None
        ),
        suspicion_score=score,
        suspicion_reasons=json.dumps(reasons),
        contact_consent=submission.contact_consent,
        engagement_score=engaged[0] if engaged else None,
        engagement_label=engaged[1] if engaged else None,
        created_at=utcnow(),
    )


def _new_lead_data(submission: Submission, contact: _Contact, visit: Visit | None) -> LeadCreate:
    """The lead a submission makes: fields named like attribution are its attribution (over
    what the sender knew), the rest not on a lead's own columns its custom data."""
    fields = submission.fields
    attribution = {
        **submission.attribution,
        **{name: value for name, value in fields.items() if name in ATTRIBUTION_NAMES and value},
    }
    custom = {
        name: value
        for name, value in fields.items()
        if name not in (*NAME_FIELDS, *EMAIL_FIELDS, *PHONE_FIELDS, COUNTRY_CODE_FIELD)
        and name not in ATTRIBUTION_NAMES
    }
    try:
        return LeadCreate(
            **attribution,
            name=_first(fields, NAME_FIELDS),
            email=contact.email,
            phone=contact.phone,
            custom=json.dumps(custom, ensure_ascii=False) if custom else None,
            note=(fields.get(MESSAGE_FIELD) or "").strip() or None,
            visit_id=visit.id if visit is not None else None,
        )
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ValidationFailed(f"{where}: {first['msg']}", details={"field": where}) from None


async def capture(
    session: AsyncSession,
    sender: Sender,
    submission: Submission,
    settings: Settings,
) -> Captured:
    """Keep the submission and make or join its lead (see the module's docstring)."""
    check_fields(submission.fields)
    principal, actor = sender.principal, sender.actor
    fields = submission.fields
    repo = SubmissionRepository(session)
    contact = _contact_of(fields)
    visit_id = _named_visit_id(submission)
    visit = await _tracked_visit(session, principal.workspace_id, submission, visit_id)
    row = _submission_row(principal.workspace_id, submission, contact, visit, visit_id)
    kind = sender.address_rules.kind_for(row.ip)
    if kind is not None:
        # Blocked: answered as usual, so the sender learns nothing; allowed: the team's own
        # and testers' submissions. Neither becomes a lead.
        row.outcome = "blocked" if kind == "block" else "testing"
        await repo.add(row, suspicious_from=SUSPICIOUS_FROM)
        return Captured(row.id, row.outcome, None)
    if submission.honeypot:
        row.outcome = "kept_aside"
        await repo.add(row, suspicious_from=SUSPICIOUS_FROM)
        return Captured(row.id, row.outcome, None)

    existing = await _earlier_lead(
        session,
        principal.workspace_id,
        contact.project,
        (
            ("visitor_id", submission.visitor_id),
            ("email", contact.email_key),
            ("phone_e164", contact.phone_key),
            # People behind one office's address are not one: the address counts only when
            # the submission names no visitor, email or phone.
            (
                "ip",
                None
                if submission.visitor_id or contact.email_key or contact.phone_key
                else submission.ip,
            ),
        ),
    )
    if existing is not None:
        _fill_blanks(existing, fields, contact.email, contact.phone)
        existing.updated_at = row.created_at
        row.lead_id, row.outcome = existing.id, "merged"
        await repo.add(row, suspicious_from=SUSPICIOUS_FROM)
        await crm.maybe_forward(session, settings, row, new_lead=False)
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
        return Captured(row.id, row.outcome, existing.id)

    data = _new_lead_data(submission, contact, visit)
    created = await leads.create_lead(
        session, principal, data, source=submission.source, actor=actor
    )
    row.lead_id, row.outcome = created.lead.id, "created"
    await repo.add(row, suspicious_from=SUSPICIOUS_FROM)
    await crm.maybe_forward(session, settings, row, new_lead=True)
    await _announce(session, principal.workspace_id, created.lead, row, captured=True)
    return Captured(row.id, row.outcome, created.lead.id)


async def _earlier_lead(
    session: AsyncSession,
    workspace_id: str,
    project: str,
    keys: tuple[tuple[SubmitterKey, str | None], ...],
) -> Lead | None:
    """The lead of the newest earlier submission to the project by the first of ``keys`` that
    matched one (the same visitor, else email, else phone, else address)."""
    repo = SubmissionRepository(session)
    for by, value in keys:
        if not value:
            continue
        lead_id = await repo.latest_lead_id(workspace_id, project, by, value)
        if lead_id is not None:
            lead = await leads.lead_of_workspace(session, workspace_id, lead_id)
            if lead is not None:
                return lead
    return None


async def _announce(
    session: AsyncSession,
    workspace_id: str,
    lead: leads.AnyLead,
    row: LeadSubmission,
    *,
    captured: bool,
) -> None:
    """The webhook events of a submission that reached a lead (sent after the commit)."""
    submission = {
        "id": row.id,
        "outcome": row.outcome,
        "form_id": row.form_id,
        "project": row.project or None,
        "fields": json.loads(row.fields),
        "suspicion_score": row.suspicion_score,
        "contact_consent": row.contact_consent,
        "engagement_score": row.engagement_score,
        "engagement_label": row.engagement_label,
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
