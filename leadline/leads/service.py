"""Lead rules: capture, attribution, status changes, listing and stats."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from sqlalchemy.ext.asyncio import AsyncSession

from leadline.audit import service as audit
from leadline.audit.service import Actor
from leadline.auth.service import Principal
from leadline.db import table_of
from leadline.errors import (
    Conflict,
    ErasedPerson,
    NotFound,
    ValidationFailed,
)
from leadline.kit.context import RequestContext
from leadline.kit.ids import new_id
from leadline.kit.time import iso_millis, utcnow
from leadline.leads import tombstones
from leadline.leads.facets import PRESENCE_FACETS, facets_of
from leadline.leads.repository import LeadRepository, is_present
from leadline.leads.schemas import (
    LeadCreate,
    LeadSource,
    LeadStatus,
    LeadUpdate,
)
from leadline.models import (
    CLICK_ID_FIELDS,
    CLICK_PLATFORMS,
    CONSENT_FIELDS,
    UTM_FIELDS,
    Lead,
    LeadStatusChange,
    Visit,
    Workspace,
)
from leadline.tracking import consent, visits
from leadline.webhooks import service as webhooks
from leadline.workspaces import service as workspaces

ATTRIBUTION_FIELDS: tuple[str, ...] = (
    "website",
    "path",
    *CLICK_ID_FIELDS,
    *UTM_FIELDS,
    *CONSENT_FIELDS,
)


# How long after the click each platform accepts an offline conversion for it, in days.
CLICK_WINDOW_DAYS: dict[str, int] = {
    "googleads": 90,
    "microsoftads": 90,
    "meta": 62,
    "linkedin": 90,
    "tiktok": 28,
    "x": 30,
    "reddit": 28,
    "snapchat": 28,
    "pinterest": 30,
}


# ----------------------------------------------------------------------------------- helpers


def normalise_email(raw: str) -> str:
    try:
        return validate_email(raw, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValidationFailed(
            f"email is not a valid address: {exc}", details={"field": "email"}
        ) from None


_PHONE_CHARS = re.compile(r"^[0-9+().\-\s/x#*]+$", re.IGNORECASE)


def normalise_phone(raw: str) -> str | None:
    """The E.164 form of ``raw`` when it parses as a valid number, else None (raw is kept)."""
    if not any(ch.isdigit() for ch in raw) or not _PHONE_CHARS.match(raw):
        raise ValidationFailed(
            "phone must be a phone number (digits, spaces, + ( ) . - /)",
            details={"field": "phone"},
        )
    try:
        parsed = phonenumbers.parse(raw, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


def ad_platform_of(values: dict[str, Any]) -> str | None:
    for click_field, platform in CLICK_PLATFORMS:
        if values.get(click_field):
            return platform
    return None


def mask_email(email: str | None) -> str | None:
    if not email:
        return email
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


def mask_phone(phone: str | None) -> str | None:
    if not phone:
        return phone
    digits = [i for i, ch in enumerate(phone) if ch.isdigit()]
    keep = set(digits[:3] + digits[-2:])
    return "".join(ch if (not ch.isdigit() or i in keep) else "*" for i, ch in enumerate(phone))


# The lead as a plain mapping of domain names, masked for roles that must not see personal data.
LeadRecord = dict[str, Any]

RECORD_FIELDS: tuple[str, ...] = (
    "id",
    "name",
    "email",
    "phone",
    "phone_e164",
    "status",
    "value",
    "currency",
    "note",
    "custom",
    "loss_reason",
    "conversion_name",
    "source",
    *ATTRIBUTION_FIELDS,
    "google_ads_campaign_id",
    "google_ads_campaign_name",
    "google_ads_ad_group_id",
    "google_ads_ad_group_name",
    "google_ads_ad_id",
    "label_id",
    "selected_conversion_event_id",
    "visit_id",
    "ad_platform",
    "created_at",
    "updated_at",
    "qualified_at",
    "expires_at",
)


# The fields a masking role sees only masked, and how each is masked.
MASKED_FIELDS: dict[str, Callable[[str | None], str | None]] = {
    "email": mask_email,
    "phone": mask_phone,
    "phone_e164": mask_phone,
}


def to_record(lead: AnyLead, *, masked: bool = False) -> LeadRecord:
    record = {name: getattr(lead, name) for name in RECORD_FIELDS}
    if masked:
        for name, mask in MASKED_FIELDS.items():
            record[name] = mask(record[name])
    return record


# ------------------------------------------------------------------------------------ create


class LeadRow:
    """A lead just created, as the values of its row: new leads are written with one INSERT
    per group, without an ORM object each (building one cost more than the rest of its
    write). Every column is an attribute; what a lead was not given is None."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(_EMPTY_LEAD)
        self.__dict__.update(values)

    def __getattr__(self, name: str) -> Any:  # only reached for a name that is no column
        raise AttributeError(name)


_EMPTY_LEAD: dict[str, Any] = {column.key: None for column in table_of(Lead).columns}

# A lead as the functions that only read one take it: a row read through the ORM, or one
# just written.
AnyLead = Lead | LeadRow


@dataclass
class CreatedLead:
    lead: LeadRow
    visit_linked: bool
    # The columns written (those the database fills itself, such as a sequence, left out).
    row: dict[str, Any] = field(default_factory=dict, repr=False)


async def lead_of_workspace(session: AsyncSession, workspace_id: str, lead_id: str) -> Lead | None:
    """The workspace's lead ``lead_id``, if there is one."""
    return await LeadRepository(session).get(workspace_id, lead_id)


async def lead_with_email(session: AsyncSession, workspace_id: str, email: str) -> Lead | None:
    """The workspace's oldest lead with this email address (in any case), if there is one."""
    found = await LeadRepository(session).find_by_email(workspace_id, email)
    return found[0] if found else None


@dataclass(frozen=True)
class LeadHistory:
    """What a lead brings from where it was kept before (a file import): where it stands in
    the pipeline and since when, and the import key of its row. Leads from the API and forms
    have none: they are new, and open."""

    status: LeadStatus = LeadStatus.OPEN
    created_at: datetime | None = None
    # When it was first qualified; for a qualified or won lead without one, its creation.
    qualified_at: datetime | None = None
    # Kept on a lost lead only, as an update keeps it.
    loss_reason: str | None = None
    import_key: str | None = None


@dataclass(frozen=True)
class NewLead:
    data: LeadCreate
    history: LeadHistory | None = None
    # What ``prepare`` made of ``data``: its checked and normalised values.
    values: dict[str, Any] | None = None
    # The request it came with, when the lead is written apart from it (the lead writer).
    request: RequestContext | None = None


def prepare(item: NewLead) -> NewLead:
    """``item`` with its values checked and normalised: what can be refused is refused here,
    before any of it reaches a transaction (ValidationFailed)."""
    if item.values is not None:
        return item
    data = item.data
    if not any((data.name, data.email, data.phone, data.custom)):
        raise ValidationFailed(
            "send at least one of name, email, phone or custom",
            details={"fields": ["name", "email", "phone", "custom"]},
        )
    values = data.model_dump(exclude={"visit_id"})
    if data.email:
        values["email"] = normalise_email(data.email)
    values["phone_e164"] = normalise_phone(data.phone) if data.phone else None
    if data.currency:
        values["currency"] = data.currency.upper()
    return replace(item, values=values)


async def create_lead(
    session: AsyncSession,
    principal: Principal,
    data: LeadCreate,
    *,
    source: LeadSource = LeadSource.API,
    actor: Actor | None = None,
    history: LeadHistory | None = None,
) -> CreatedLead:
    created = await create_leads(
        session, principal, [NewLead(data, history)], source=source, actor=actor
    )
    return created[0]


async def create_leads(
    session: AsyncSession,
    principal: Principal,
    items: Sequence[NewLead],
    *,
    source: LeadSource = LeadSource.API,
    actor: Actor | None = None,
    announce: bool = True,
) -> list[CreatedLead]:
    """Create leads as ``create_lead`` creates one (the same rows, webhook events and audit
    events, in the caller's transaction), with one statement of each kind for all of them.
    Without ``announce`` no ``lead.created`` webhook event is sent for them (an import of
    leads the team's other systems have already)."""
    items = [prepare(item) for item in items]
    if not items:
        return []
    repo = LeadRepository(session)
    returning = await _returning_after_erasure(session, principal.workspace, items)
    now = utcnow()
    linked = await visits.visits_of(
        session,
        principal.workspace_id,
        (item.data.visit_id for item in items if item.data.visit_id),
    )
    created = [
        _new_lead(principal, item, linked.get(item.data.visit_id or ""), source, now)
        for item in items
    ]
    new_leads = [made.lead for made in created]
    await repo.insert_rows([made.row for made in created])
    await workspaces.count_new_leads(session, principal.workspace_id, len(new_leads))
    facets: Counter[str] = Counter()
    for lead in new_leads:
        facets.update(facets_of(lead))
    await repo.add_to_facets(principal.workspace_id, facets)
    await repo.insert_status_changes(
        [
            {
                "id": new_id("lsc"),
                "workspace_id": principal.workspace_id,
                "lead_id": lead.id,
                "from_status": None,
                "to_status": lead.status,
                "changed_at": lead.created_at,
                # None for a site's own form or the command line.
                "api_key_id": principal.key_id or None,
            }
            for lead in new_leads
        ]
    )
    if source is LeadSource.API:
        await _record_consent(session, principal.workspace_id, created, items, linked)
    endpoints = (
        await webhooks.subscribers(session, principal.workspace_id, "lead.created")
        if announce
        else []
    )
    for lead in new_leads if endpoints else ():
        await webhooks.emit(
            session,
            principal.workspace_id,
            "lead.created",
            {"lead": webhook_lead(lead)},
            endpoints=endpoints,
        )
    await audit.record_many(
        session,
        principal.workspace_id,
        actor or principal.actor,
        [
            audit.Entry(
                "lead.created",
                "lead",
                made.lead.id,
                _without_personal_data(
                    {name: (None, value) for name, value in _created_fields(made.lead).items()}
                )
                | ({"returned_after_erasure": (None, True)} if index in returning else {}),
                request=item.request,
            )
            for index, (made, item) in enumerate(zip(created, items, strict=True))
        ],
    )
    return created


async def _record_consent(
    session: AsyncSession,
    workspace_id: str,
    created: Sequence[CreatedLead],
    items: Sequence[NewLead],
    linked: dict[str, Visit],
) -> None:
    """An ``api`` entry in the consent ledger for each lead given consent flags."""
    for made, item in zip(created, items, strict=True):
        # The schema has made each flag given a boolean already (Consent Mode's words too).
        given = {
            name: value
            for name in CONSENT_FIELDS
            if (value := getattr(item.data, name, None)) is not None
        }
        if not given:
            continue
        visit = linked.get(item.data.visit_id or "")
        await consent.record_api_consent(
            session,
            workspace_id,
            lead_id=made.lead.id,
            visit_id=made.lead.visit_id,
            visitor_id=visit.visitor_id if visit is not None else None,
            flags=given,
        )


async def _returning_after_erasure(
    session: AsyncSession, workspace: Workspace, items: Sequence[NewLead]
) -> set[int]:
    """The positions of ``items`` from people the workspace erased; refused (ErasedPerson)
    when the workspace refuses them."""
    wanted = {
        index: tombstones.identities(
            (item.values or {}).get("email"), (item.values or {}).get("phone")
        )
        for index, item in enumerate(items)
    }
    if not any(wanted.values()):
        return set()
    key = await workspaces.ensure_secret_key(session, None)
    digests = {
        index: {tombstones.digest(key, identity) for identity in found}
        for index, found in wanted.items()
    }
    known = await LeadRepository(session).tombstoned(
        workspace.id, sorted(set().union(*digests.values()))
    )
    if not known:
        return set()
    if workspace.erased_returns == "refuse":
        raise ErasedPerson(
            "this person's data was erased at their request, and the workspace refuses new "
            "leads from them"
        )
    return {index for index, found in digests.items() if found & known}


def _new_lead(
    principal: Principal,
    item: NewLead,
    visit: Visit | None,
    source: LeadSource,
    now: datetime,
) -> CreatedLead:
    """The lead ``item`` (prepared) describes, attributed to ``visit``, not yet added."""
    history = item.history or LeadHistory()
    assert item.values is not None
    values = dict(item.values)

    created_at = history.created_at or now
    clicked_at: datetime | None = None
    if visit is not None:
        # A tracked visit knows where the visitor really came from: its attribution wins.
        for name in ATTRIBUTION_FIELDS:
            values[name] = getattr(visit, name)
        clicked_at = visit.clicked_at or visit.started_at

    platform = ad_platform_of(values)
    expires_at = None
    if platform is not None:
        expires_at = (clicked_at or created_at) + timedelta(days=CLICK_WINDOW_DAYS[platform])
    qualified_at = history.qualified_at
    if qualified_at is None and history.status in (LeadStatus.QUALIFIED, LeadStatus.WON):
        qualified_at = created_at

    values.update(
        id=new_id("lead"),
        workspace_id=principal.workspace_id,
        visit_id=visit.id if visit is not None else None,
        status=history.status.value,
        source=source.value,
        ad_platform=platform,
        clicked_at=clicked_at if platform else None,
        created_at=created_at,
        updated_at=now,
        qualified_at=qualified_at,
        expires_at=expires_at,
        loss_reason=history.loss_reason if history.status is LeadStatus.LOST else None,
        import_key=history.import_key,
    )
    if values.get("value") is not None and values.get("currency") is None:
        values["currency"] = principal.workspace.default_currency
    lead = LeadRow(values)
    return CreatedLead(lead=lead, visit_linked=visit is not None, row=values)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso_millis(value)
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


# Webhook receivers have always read the linked visit as ``session_id``.
_WEBHOOK_NAMES = {"visit_id": "session_id"}


def webhook_lead(lead: AnyLead) -> dict[str, Any]:
    """The lead as webhook events carry it: its record, empty fields left out."""
    return {
        _WEBHOOK_NAMES.get(name, name): _plain(value)
        for name, value in to_record(lead).items()
        if value is not None
    }


# Fields that say who a person is or what they wrote. The audit log, which is never rewritten,
# records that they were set or changed but not their values, so erasing a person's data later
# never has to touch it.
PERSONAL_FIELDS = frozenset({"name", "email", "phone", "phone_e164", "custom", "note"})


def _without_personal_data(changes: dict[str, tuple[Any, Any]]) -> dict[str, tuple[Any, Any]]:
    return audit.without_personal_data(changes, PERSONAL_FIELDS)


# What the event of a new lead lists: the fields it was given or derived, not the id and
# timestamps the event itself carries.
_NOT_IN_CREATED_EVENT = frozenset({"id", "created_at", "updated_at"})


def _created_fields(lead: AnyLead) -> dict[str, Any]:
    return {
        name: value
        for name, value in to_record(lead).items()
        if name not in _NOT_IN_CREATED_EVENT and is_present(value)
    }


async def get_lead(session: AsyncSession, principal: Principal, lead_id: str) -> LeadRecord:
    # An id that could never have been issued is simply not found (and never reaches SQL).
    valid = len(lead_id) <= 64 and lead_id.isascii() and lead_id.isprintable()
    lead = await LeadRepository(session).get(principal.workspace_id, lead_id) if valid else None
    if lead is None:
        raise NotFound(f"lead '{lead_id}' not found", details={"id": lead_id})
    return to_record(lead, masked=principal.masks_personal_data)


# ------------------------------------------------------------------------------------ update


@dataclass
class UpdateResult:
    lead_ids: list[str]
    status_changes: list[tuple[str, str | None, str]] = field(default_factory=list)


# The lead fields an update may change, and which of them its status event reports.
_UPDATABLE = ("status", "qualified_at", "value", "currency", "note", "loss_reason")
_STATUS_FIELDS = frozenset({"status", "qualified_at"})


def _updatable(lead: Lead) -> dict[str, Any]:
    return {name: getattr(lead, name) for name in _UPDATABLE}


async def _update_targets(
    repo: LeadRepository, principal: Principal, data: LeadUpdate
) -> list[Lead]:
    """The leads an update names by id, email or phone; several only where the workspace
    allows bulk updates."""
    if data.id:
        lead = await repo.get(principal.workspace_id, data.id)
        if lead is None:
            raise NotFound(f"lead '{data.id}' not found", details={"id": data.id})
        targets = [lead]
        by = "id"
    elif data.email:
        targets = await repo.find_by_email(principal.workspace_id, data.email)
        by = "email"
    elif data.phone:
        e164 = normalise_phone(data.phone)
        targets = await repo.find_by_phone(principal.workspace_id, e164, data.phone)
        by = "phone"
    else:
        raise ValidationFailed(
            "identify the lead by id, email or phone", details={"fields": ["id", "email", "phone"]}
        )
    if not targets:
        raise NotFound(f"no lead with that {by}", details={"field": by})
    if len(targets) > 1 and not principal.workspace.allow_bulk_updates:
        raise Conflict(
            f"{len(targets)} leads match that {by}; send the lead id, or allow bulk updates "
            "for this workspace",
            details={"field": by, "matches": len(targets)},
        )
    return targets


async def _apply_update(
    repo: LeadRepository,
    principal: Principal,
    data: LeadUpdate,
    lead: Lead,
    now: datetime,
    result: UpdateResult,
) -> None:
    new_status = data.status.value if data.status else None
    if new_status and new_status != lead.status:
        await repo.add_status_change(
            LeadStatusChange(
                id=new_id("lsc"),
                workspace_id=principal.workspace_id,
                lead_id=lead.id,
                from_status=lead.status,
                to_status=new_status,
                changed_at=now,
                # None for a person signed in to the dashboard, who acts through no key.
                api_key_id=principal.key_id or None,
            )
        )
        result.status_changes.append((lead.id, lead.status, new_status))
        lead.status = new_status
    if lead.qualified_at is None and lead.status in (LeadStatus.QUALIFIED, LeadStatus.WON):
        lead.qualified_at = now
    if data.value is not None:
        lead.value = data.value
        if lead.currency is None:
            lead.currency = principal.workspace.default_currency
    if data.currency:
        lead.currency = data.currency.upper()
    if data.note is not None:
        lead.note = data.note
    # A loss reason only means something on a lost lead.
    if data.loss_reason is not None and lead.status == LeadStatus.LOST:
        lead.loss_reason = data.loss_reason
    lead.updated_at = now


@dataclass(slots=True)
class _UpdateNotices:
    """The audit entries and webhook events of an update, gathered lead by lead and written
    once the leads are flushed."""

    audit_entries: list[tuple[str, str, dict[str, tuple[Any, Any]]]] = field(default_factory=list)
    webhook_events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def add(self, lead: Lead, changed: dict[str, tuple[Any, Any]]) -> None:
        """A status change is its own event; the other changes of the lead are one more."""
        if "status" in changed:
            status = {name: change for name, change in changed.items() if name in _STATUS_FIELDS}
            self.audit_entries.append((lead.id, "lead.status_changed", status))
            changed = {name: change for name, change in changed.items() if name not in status}
            old, new = status["status"]
            self.webhook_events.append(
                ("lead.status_changed", {"lead": webhook_lead(lead), "from": old, "to": new})
            )
        if changed:
            self.audit_entries.append((lead.id, "lead.updated", _without_personal_data(changed)))
            self.webhook_events.append(
                (
                    "lead.updated",
                    {
                        "lead": webhook_lead(lead),
                        "changes": {
                            name: {"before": _plain(old), "after": _plain(new)}
                            for name, (old, new) in changed.items()
                        },
                    },
                )
            )


async def update_leads(
    session: AsyncSession, principal: Principal, data: LeadUpdate, *, actor: Actor | None = None
) -> UpdateResult:
    if data.status is LeadStatus.OPEN:
        # The pipeline only moves forward from open; reopening is not an update clients make.
        raise ValidationFailed("status must be qualified, won or lost", details={"field": "status"})
    repo = LeadRepository(session)
    targets = await _update_targets(repo, principal, data)
    changes = data.model_dump(include={"status", "value", "currency", "note", "loss_reason"})
    if all(changes[name] is None for name in changes):
        raise ValidationFailed(
            "nothing to update: send status, value, note or lossReason",
            details={"fields": ["status", "value", "note", "lossReason"]},
        )

    now = utcnow()
    result = UpdateResult(lead_ids=[lead.id for lead in targets])
    facet_deltas: Counter[str] = Counter()
    notices = _UpdateNotices()
    for lead in targets:
        facet_deltas.subtract(facets_of(lead))
        before = _updatable(lead)
        await _apply_update(repo, principal, data, lead, now, result)
        facet_deltas.update(facets_of(lead))
        notices.add(lead, audit.diff(before, _updatable(lead)))
    await session.flush()
    await repo.add_to_facets(principal.workspace_id, facet_deltas)
    for event_type, event_data in notices.webhook_events:
        await webhooks.emit(session, principal.workspace_id, event_type, event_data)
    actor = actor or principal.actor
    for lead_id, action, changes in notices.audit_entries:
        await audit.record(session, principal.workspace_id, actor, action, "lead", lead_id, changes)
    return result


# ------------------------------------------------------------------------------ reading


async def status_history(
    session: AsyncSession, workspace_id: str, lead_id: str
) -> list[LeadStatusChange]:
    """The workspace's lead's status changes, newest first."""
    return await LeadRepository(session).status_changes(workspace_id, lead_id)


async def status_changes_between(
    session: AsyncSession,
    workspace_id: str,
    statuses: Sequence[str],
    start: datetime,
    end: datetime,
) -> list[LeadStatusChange]:
    """The workspace's lead status changes to one of ``statuses`` from ``start`` up to (not
    including) ``end``, oldest first."""
    return await LeadRepository(session).status_changes_between(workspace_id, statuses, start, end)


async def leads_by_id(
    session: AsyncSession, workspace_id: str, lead_ids: Sequence[str]
) -> dict[str, Lead]:
    """The workspace's leads among ``lead_ids``, by id (one read for all)."""
    found = await LeadRepository(session).of_ids(workspace_id, sorted(set(lead_ids)))
    return {lead.id: lead for lead in found}


async def workspace_of_lead(session: AsyncSession, lead_id: str) -> str | None:
    """The workspace of the lead ``lead_id``, for the operator's command line."""
    valid = len(lead_id) <= 64 and lead_id.isascii() and lead_id.isprintable()
    return await LeadRepository(session).workspace_of(lead_id) if valid else None


async def click_expiring(
    session: AsyncSession,
    workspace_id: str | None,
    start: datetime,
    end: datetime,
    *,
    limit: int,
    after: tuple[datetime, str] | None = None,
) -> list[Lead]:
    """Open and qualified leads (not won, not lost) whose ad click can be uploaded until a
    time from ``start`` to ``end``, soonest first; every workspace's when ``workspace_id`` is
    None."""
    return await LeadRepository(session).click_expiring(
        workspace_id,
        start,
        end,
        statuses=(LeadStatus.OPEN.value, LeadStatus.QUALIFIED.value),
        limit=limit,
        after=after,
    )


async def lead_ids_matching(
    session: AsyncSession, workspace_id: str, search: str, *, at_most: int
) -> list[str]:
    """The newest ``at_most`` of the workspace's leads whose name, email or phone contains
    ``search`` (case-insensitive), newest first."""
    return await LeadRepository(session).ids_containing(workspace_id, search.strip(), at_most)


# ------------------------------------------------------------------------------------ facets


async def recount_facets(session: AsyncSession, workspace_id: str) -> None:
    """Rebuild a workspace's facets from its leads, for leads loaded behind the service's back."""
    await LeadRepository(session).recount_facets(workspace_id, PRESENCE_FACETS)


# -------------------------------------------------------------------- usage and purging


async def count_created(
    session: AsyncSession, workspace_id: str, since: datetime, until: datetime
) -> int:
    """How many of the workspace's leads were created from ``since`` to ``until`` (excluded)."""
    return await LeadRepository(session).count_created(workspace_id, since, until)


async def delete_some_of_workspace(session: AsyncSession, workspace_id: str, batch: int) -> int:
    """Delete up to ``batch`` of a closed workspace's leads (a purge calls this, a transaction
    each time, until it answers 0); the workspace's lead count follows."""
    removed = await LeadRepository(session).delete_some_of_workspace(workspace_id, batch)
    if removed:
        await workspaces.count_new_leads(session, workspace_id, -removed)
    return removed


async def before_erasure(session: AsyncSession, workspace_id: str, lead_ids: Sequence[str]) -> None:
    """What the pipeline counts of leads about to be erased by the privacy feature (their
    facets and the workspace's lead count) stops counting them. The rows themselves are the
    privacy feature's to remove (``leadline.models.personal``)."""
    repo = LeadRepository(session)
    found = await repo.matching_person(workspace_id, [], [], lead_ids) if lead_ids else []
    if not found:
        return
    facets: Counter[str] = Counter()
    for lead in found:
        facets.subtract(facets_of(lead))
    await repo.add_to_facets(workspace_id, facets)
    await workspaces.count_new_leads(session, workspace_id, -len(found))


async def leave_tombstones(
    session: AsyncSession,
    workspace_id: str,
    *,
    emails: Sequence[str],
    phones: Sequence[str],
    erasure_id: str,
) -> int:
    """Tombstones of an erased person's emails and phones, so a lead from them later is
    recognised (``tombstones``); how many were new."""
    identities = {one for email in emails for one in tombstones.identities(email, None)}
    identities |= {one for phone in phones for one in tombstones.identities(None, phone)}
    key = await workspaces.ensure_secret_key(session, None)
    by_digest = {tombstones.digest(key, identity): identity for identity in identities}
    repo = LeadRepository(session)
    already = await repo.tombstoned(workspace_id, list(by_digest))
    now = utcnow()
    rows = [
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
    await repo.add_tombstones(rows)
    return len(rows)
