"""The Settings pages about sites and what reaches out of them: sites with their domains, the
tracking snippet, when tracking was last seen, their forms with a preview; webhook endpoints
and their delivery log; the address lists; consent and retention. Owners and admins only
(the ``settings`` area); everything through the services the CLI and the APIs use."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from leadline.accounts.service import SignedIn
from leadline.errors import NotFound, ValidationFailed
from leadline.kit.time import utcnow
from leadline.models import RetentionRun, SiteForm
from leadline.privacy import retention
from leadline.sites import forms, ip_rules
from leadline.sites import service as sites
from leadline.sites.schemas import parse_definition
from leadline.tracking import service as tracking
from leadline.web import access, fields
from leadline.web.access import page
from leadline.web.rendering import render
from leadline.webhooks import service as webhooks
from leadline.workspaces import service as workspaces

AREA = "settings"
# The newest deliveries an endpoint's log shows.
DELIVERIES_SHOWN = 50
# Endpoints the webhooks page lists (the API pages through more).
ENDPOINTS_SHOWN = 100

SITE_SWITCHES = {
    "respect_dnt": "Honour Do Not Track: a browser sending it is treated as refusing all consent",
    "respect_gpc": "Honour Global Privacy Control: a browser sending it is treated as refusing "
    "the advertising flags",
    "fingerprinting": "Use a browser fingerprint (sent only with analytics consent) to "
    "recognise a returning visitor and device",
}


# ------------------------------------------------------------------------------ helpers


def _allowed(who: SignedIn) -> None:
    access.require_area(who, AREA)


def _back(request: Request, path: str, anchor: str = "") -> Response:
    """After a change: the page again (POST, then redirect, then GET)."""
    return RedirectResponse(
        f"{access.base(request)}/settings/{path}{'#' + anchor if anchor else ''}",
        status_code=303,
    )


def ago(moment: datetime | None, now: datetime | None = None) -> str:
    """How long ago ``moment`` was, in words."""
    if moment is None:
        return "never"
    seconds = int(((now or utcnow()) - moment).total_seconds())
    if seconds < 60:
        return "just now"
    size, unit = next(
        (size, unit)
        for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute"))
        if seconds >= size
    )
    count = seconds // size
    return f"{count} {unit}{'' if count == 1 else 's'} ago"


# ------------------------------------------------------------------------------ sites


@page
async def sites_page(request: Request, session: AsyncSession, who: SignedIn) -> Response:
    """The workspace's sites with their domains; making a site (POST)."""
    _allowed(who)
    if request.method == "POST":
        form = await request.form()
        domain = fields.text(form, "domain", 300).strip()
        if not domain:
            raise ValidationFailed(
                "give the site's domain, such as example.com", details={"field": "domain"}
            )
        managed = await sites.add_site(
            session,
            who.workspace.id,
            domains=[domain],
            name=fields.text(form, "name", 200),
            actor=who.principal.actor,
        )
        return _back(request, f"sites/{managed.site.id}")
    listed = await sites.sites_of(session, who.workspace.id)
    seen = await tracking.last_tracked_by_site(
        session, who.workspace.id, [one.site.id for one in listed]
    )
    return render(
        request,
        "site_settings/sites.html",
        {"sites": [(one, ago(seen[one.site.id])) for one in listed]},
    )


def snippet(origin: str, site_key: str) -> str:
    return (
        f'<script src="{origin}/tracker.js" data-site-key="{site_key}" '
        'data-consent-mode="auto"></script>'
    )


@page
async def site_page(request: Request, session: AsyncSession, who: SignedIn) -> Response:
    """A site: its domains, its snippet, when tracking was last seen, its forms."""
    _allowed(who)
    site_id = fields.path_id(request, "site_id")
    managed = await sites.managed_site(session, who.workspace.id, site_id)
    seen = await tracking.last_tracked(session, who.workspace.id, site_id)
    site_forms = await forms.forms_of(session, who.workspace.id, site_id)
    return render(
        request,
        "site_settings/site.html",
        {
            "managed": managed,
            "origin": fields.origin(request),
            "snippet": snippet(fields.origin(request), managed.site.site_key),
            "seen": seen,
            "seen_ago": ago(seen),
            "forms": [
                (form, parse_definition(form.form_json), _pretty(form.form_json))
                for form in site_forms
            ],
        },
    )


def _pretty(form_json: str) -> str:
    """A saved definition laid out for editing."""
    return json.dumps(json.loads(form_json), indent=2, ensure_ascii=False)


@page
async def add_domain(request: Request, session: AsyncSession, who: SignedIn) -> Response:
    _allowed(who)
    site_id = fields.path_id(request, "site_id")
    form = await request.form()
    await sites.add_domain(
        session, who.workspace.id, site_id, fields.text(form, "domain", 300), who.principal.actor
    )
    return _back(request, f"sites/{site_id}", "domains")


@page
async def remove_domain(request: Request, session: AsyncSession, who: SignedIn) -> Response:
    _allowed(who)
    site_id = fields.path_id(request, "site_id")
    await sites.remove_domain(
        session,
        who.workspace.id,
        site_id,
        fields.path_id(request, "domain_id"),
        who.principal.actor,
    )
    return _back(request, f"sites/{site_id}", "domains")


@page
async def add_form(request: Request, session: AsyncSession, who: SignedIn) -> Response:
    """A new form of the site from its definition (docs/forms.md)."""
    _allowed(who)
    site_id = fields.path_id(request, "site_id")
    managed = await sites.managed_site(session, who.workspace.id, site_id)
    form = await request.form()
    await forms.add_form(
        session,
        managed.site,
        form_id=fields.text(form, "form_id", 64).strip(),
        form_json=fields.text(form, "form_json", 64 * 1024),
        name=fields.text(form, "name", 200),
        actor=who.principal.actor,
    )
    return _back(request, f"sites/{site_id}", "forms")


async def _form_of_site(
    request: Request, session: AsyncSession, who: SignedIn
) -> tuple[str, SiteForm]:
    """The site in the path, and its form in the path (NotFound for another site's)."""
    site_id = fields.path_id(request, "site_id")
    form_row = await forms.managed_form(
        session, who.workspace.id, fields.path_id(request, "form_id")
    )
    if form_row.site_id != site_id:
        raise NotFound(f"no form {form_row.id}", resource="form")
    return site_id, form_row


@page
async def change_definition(request: Request, session: AsyncSession, who: SignedIn) -> Response:
    """Replace a form's definition (checked first) and its name."""
    _allowed(who)
    site_id, form_row = await _form_of_site(request, session, who)
    form = await request.form()
    await forms.change_form(
        session,
        who.workspace.id,
        form_row.id,
        name=fields.text(form, "name", 200) or None,
        form_json=fields.text(form, "form_json", 64 * 1024),
        actor=who.principal.actor,
    )
    return _back(request, f"sites/{site_id}", f"form-{form_row.id}")


@page
async def switch_form(request: Request, session: AsyncSession, who: SignedIn) -> Response:
    """Turn a form on or off."""
    _allowed(who)
    site_id, form_row = await _form_of_site(request, session, who)
    await forms.change_form(
        session,
        who.workspace.id,
        form_row.id,
        enabled=not form_row.enabled,
        actor=who.principal.actor,
    )
    return _back(request, f"sites/{site_id}", "forms")


@page
async def delete_form(request: Request, session: AsyncSession, who: SignedIn) -> Response:
    """Delete a form: the site's pages no longer show it; its submissions stay."""
    _allowed(who)
    site_id, form_row = await _form_of_site(request, session, who)
    await forms.delete_form(session, who.workspace.id, form_row.id, who.principal.actor)
    return _back(request, f"sites/{site_id}", "forms")


@page
async def delete_site(request: Request, session: AsyncSession, who: SignedIn) -> Response:
    """Delete a site: its key stops working; its visits, events and leads stay."""
    _allowed(who)
    await sites.delete_site(
        session, who.workspace.id, fields.path_id(request, "site_id"), who.principal.actor
    )
    return _back(request, "sites")


# ------------------------------------------------------------------------------ webhooks


def _events_of(form: FormData) -> list[str]:
    chosen = [value for value in form.getlist("events") if isinstance(value, str)]
    if any("\x00" in value for value in chosen):
        raise ValidationFailed("events holds a NUL character", details={"field": "events"})
    return chosen


@page
async def webhooks_page(request: Request, session: AsyncSession, who: SignedIn) -> Response:
    """The workspace's webhook endpoints; making one (POST), whose secret is shown once."""
    _allowed(who)
    created = None
    if request.method == "POST":
        form = await request.form()
        created = await webhooks.create_endpoint(
            session,
            who.principal,
            fields.app_settings(request),
            url=fields.text(form, "url"),
            event_types=_events_of(form),
            description=fields.text(form, "description", 500).strip() or None,
        )
    listed = await webhooks.list_endpoints(session, who.principal, limit=ENDPOINTS_SHOWN)
    return render(
        request,
        "site_settings/webhooks.html",
        {
            "endpoints": [(e, webhooks.event_types_of(e)) for e in listed.endpoints],
            "more": listed.has_more,
            "created": created,
            "event_types": webhooks.EVENT_TYPES,
        },
        status_code=201 if created else 200,
    )


@page
async def switch_webhook(request: Request, session: AsyncSession, who: SignedIn) -> Response:
    """Pause an endpoint, or enable it again (a disabled one too)."""
    _allowed(who)
    endpoint_id = fields.path_id(request, "endpoint_id")
    endpoint = await webhooks.get_endpoint(session, who.principal, endpoint_id)
    await webhooks.update_endpoint(
        session,
        who.principal,
        fields.app_settings(request),
        endpoint_id,
        enabled=not endpoint.enabled,
    )
    return _back(request, "webhooks")


@page
async def delete_webhook(request: Request, session: AsyncSession, who: SignedIn) -> Response:
    _allowed(who)
    await webhooks.delete_endpoint(session, who.principal, fields.path_id(request, "endpoint_id"))
    return _back(request, "webhooks")


@page
async def webhook_page(request: Request, session: AsyncSession, who: SignedIn) -> Response:
    """An endpoint and its newest deliveries, each with its attempts."""
    _allowed(who)
    endpoint_id = fields.path_id(request, "endpoint_id")
    endpoint = await webhooks.get_endpoint(session, who.principal, endpoint_id)
    log = await webhooks.list_deliveries(
        session, who.principal, endpoint_id, limit=DELIVERIES_SHOWN
    )
    return render(
        request,
        "site_settings/webhook.html",
        {
            "endpoint": endpoint,
            "events": webhooks.event_types_of(endpoint),
            "deliveries": log.deliveries,
            "more": log.has_more,
        },
    )


@page
async def redeliver(request: Request, session: AsyncSession, who: SignedIn) -> Response:
    """Send a delivery again."""
    _allowed(who)
    endpoint_id = fields.path_id(request, "endpoint_id")
    await webhooks.redeliver(
        session, who.principal, fields.path_id(request, "delivery_id"), endpoint_id=endpoint_id
    )
    return _back(request, f"webhooks/{endpoint_id}")


# ------------------------------------------------------------------------------ addresses


@page
async def addresses_page(request: Request, session: AsyncSession, who: SignedIn) -> Response:
    """The block and allow lists; putting an address on one (POST)."""
    _allowed(who)
    if request.method == "POST":
        form = await request.form()
        address = fields.text(form, "address", 100)
        if not address.strip():
            raise ValidationFailed(
                "give an IP address or network, such as 203.0.113.7 or 203.0.113.0/24",
                details={"field": "address"},
            )
        await ip_rules.add_ip_rule(
            session,
            who.workspace.slug,
            address,
            fields.text(form, "kind", 10),
            note=fields.text(form, "note", 200),
            actor=who.principal.actor,
        )
        return _back(request, "addresses")
    rules = await ip_rules.list_ip_rules(session, who.workspace.slug)
    return render(
        request,
        "site_settings/addresses.html",
        {
            "blocked": [rule for rule in rules if rule.kind == "block"],
            "allowed": [rule for rule in rules if rule.kind == "allow"],
        },
    )


@page
async def remove_address(request: Request, session: AsyncSession, who: SignedIn) -> Response:
    _allowed(who)
    form = await request.form()
    await ip_rules.remove_ip_rule(
        session, who.workspace.slug, fields.text(form, "address", 100), actor=who.principal.actor
    )
    return _back(request, "addresses")


# ------------------------------------------------------------------------------ privacy


def _choice(form: FormData, name: str) -> bool:
    value = fields.text(form, name, 10)
    if value not in ("on", ""):
        raise ValidationFailed(f"{name} is a box to tick, not {value!r}", details={"field": name})
    return value == "on"


@page
async def privacy_page(request: Request, session: AsyncSession, who: SignedIn) -> Response:
    """Consent (the workspace's answer to erased people returning, each site's privacy
    signals) and retention (the workspace's periods per class, the last run and what it
    removed, and the instance's limits)."""
    _allowed(who)
    if request.method == "POST":
        form = await request.form()
        erased_returns = fields.text(form, "erased_returns", 10)
        # Every value is checked before anything changes: a refusal leaves all as it was.
        if erased_returns not in workspaces.ERASED_RETURNS:
            raise ValidationFailed(
                f"erased returns must be one of: {', '.join(workspaces.ERASED_RETURNS)}",
                details={"field": "erased_returns"},
            )
        # Only the sites the form showed: one made since keeps its settings.
        shown = [value for value in form.getlist("site") if isinstance(value, str)]
        changes: dict[str, dict[str, Any]] = {
            site_id: {name: _choice(form, f"{name}:{site_id}") for name in SITE_SWITCHES}
            for site_id in dict.fromkeys(shown)
        }
        await workspaces.update_workspace(
            session, who.workspace.slug, erased_returns=erased_returns, actor=who.principal.actor
        )
        for site_id, values in changes.items():
            await sites.change_site(session, who.workspace.id, site_id, values, who.principal.actor)
        return _back(request, "privacy")
    settings = fields.app_settings(request)
    periods = await retention.periods_of(session, who.workspace.id)
    run = await retention.last_run(session, who.workspace.id)
    return render(
        request,
        "site_settings/privacy.html",
        {
            "sites": await sites.sites_of(session, who.workspace.id),
            "switches": SITE_SWITCHES,
            "erased_returns": who.workspace.erased_returns,
            "events_retention_days": settings.events_retention_days,
            "workspace_retention_days": settings.workspace_retention_days,
            "classes": [
                (name, RETENTION_CLASSES[name], periods.get(name)) for name in retention.SHOWN
            ],
            "effective": retention.effective_days(periods, settings.events_retention_days),
            "max_days": retention.MAX_DAYS,
            "run": _run_shown(run),
        },
    )


# What each retention class holds, in words (``retention.SHOWN``).
RETENTION_CLASSES = {
    "events": "Raw tracking events",
    "visits": "Visits (a visit a lead points to is anonymised instead)",
    "submissions": "Form submissions",
    "leads_open": "Open leads",
    "leads_qualified": "Qualified leads",
    "leads_won": "Won leads",
    "leads_lost": "Lost leads",
    "conversations": "Inbox conversations",
    "webhook_deliveries": "Webhook deliveries",
    "jobs": "Finished jobs",
    "audit": "Audit log",
}


def _run_shown(run: RetentionRun | None) -> dict[str, Any] | None:
    if run is None:
        return None
    return {
        "id": run.id,
        "trigger": run.trigger,
        "started_at": run.started_at,
        "started": ago(run.started_at),
        "finished_at": run.finished_at,
        "counts": sorted(json.loads(run.counts).items()),
    }


def _days(form: FormData, name: str) -> int | None:
    """A period as typed: empty (or "forever") keeps the class forever, a whole number is
    days (the service checks its range, as it does the API's)."""
    value = fields.text(form, f"days:{name}", 20).strip()
    if value == "" or value.lower() == "forever":
        return None
    if not (value.isascii() and value.isdigit()):
        raise ValidationFailed(
            f"{RETENTION_CLASSES[name]}: {value!r} is not a number of days; write a whole "
            f"number from 1 to {retention.MAX_DAYS}, or leave it empty to keep it forever",
            details={"field": f"days:{name}"},
        )
    return int(value)


@page
async def retention_periods(request: Request, session: AsyncSession, who: SignedIn) -> Response:
    """Set the workspace's retention periods: the classes the form shows, through the
    service the API's ``PATCH /privacy/retention`` uses (its checks, its audit event)."""
    _allowed(who)
    form = await request.form()
    changes = {name: _days(form, name) for name in retention.SHOWN if f"days:{name}" in form}
    await retention.set_periods(session, who.workspace.id, changes, actor=who.principal.actor)
    return _back(request, "privacy", "retention-heading")


ROUTES: list[BaseRoute] = [
    Route("/settings/sites", sites_page, methods=["GET", "POST"]),
    Route("/settings/sites/{site_id}", site_page, methods=["GET"]),
    Route("/settings/sites/{site_id}/domains", add_domain, methods=["POST"]),
    Route("/settings/sites/{site_id}/domains/{domain_id}/remove", remove_domain, methods=["POST"]),
    Route("/settings/sites/{site_id}/forms", add_form, methods=["POST"]),
    Route("/settings/sites/{site_id}/forms/{form_id}/switch", switch_form, methods=["POST"]),
    Route("/settings/sites/{site_id}/delete", delete_site, methods=["POST"]),
    Route("/settings/sites/{site_id}/forms/{form_id}/delete", delete_form, methods=["POST"]),
    Route(
        "/settings/sites/{site_id}/forms/{form_id}/definition",
        change_definition,
        methods=["POST"],
    ),
    Route("/settings/webhooks", webhooks_page, methods=["GET", "POST"]),
    Route("/settings/webhooks/{endpoint_id}", webhook_page, methods=["GET"]),
    Route("/settings/webhooks/{endpoint_id}/switch", switch_webhook, methods=["POST"]),
    Route("/settings/webhooks/{endpoint_id}/delete", delete_webhook, methods=["POST"]),
    Route(
        "/settings/webhooks/{endpoint_id}/deliveries/{delivery_id}/redeliver",
        redeliver,
        methods=["POST"],
    ),
    Route("/settings/addresses", addresses_page, methods=["GET", "POST"]),
    Route("/settings/addresses/remove", remove_address, methods=["POST"]),
    Route("/settings/privacy", privacy_page, methods=["GET", "POST"]),
    Route("/settings/privacy/retention", retention_periods, methods=["POST"]),
]
