"""Settings → Conversions: the ad-platform destinations a workspace's leads' outcomes are
uploaded to (create, edit, enable or disable, test, delete), and the conversions section of a
lead's page (its preflight and uploads). Owners and admins only (the ``settings`` area);
everything through the conversions service the API and the CLI use. Credentials are
write-only: a page never shows them back."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from leadline.accounts.service import SignedIn
from leadline.conversions import preflight as checks
from leadline.conversions import service as conversions
from leadline.conversions.platforms import registry
from leadline.conversions.platforms.base import Platform
from leadline.conversions.trigger import MAPPABLE_STATUSES
from leadline.errors import NotFound, ValidationFailed
from leadline.models import ConversionDestination
from leadline.web import access, fields
from leadline.web.access import page
from leadline.web.rendering import render

AREA = "settings"
# How long asking a platform whether the credentials work may take (as the API).
TEST_TIMEOUT = 15.0
UPLOAD_STATES = ("sent", "pending", "skipped", "failed")

# The preflight's reasons in words (a platform's own reasons fall back to their code).
REASON_WORDS: dict[str, str] = {
    checks.NO_DESTINATION: "no destination is set up for this platform",
    checks.DESTINATION_DISABLED: "the destination is disabled",
    checks.NO_CLICK_ID: "the lead has no click ID from this platform",
    checks.CONSENT_DENIED: "the consent this platform needs was not granted",
    checks.WINDOW_PASSED: "the click is older than the platform accepts conversions for",
    checks.EVENT_TOO_OLD: "the status was reached too long ago for this platform",
    checks.MISSING_USER_DATA: "the platform needs an email or a phone the lead does not have",
}


def reason_in_words(code: str) -> str:
    return REASON_WORDS.get(code, code.replace("_", " "))


# ------------------------------------------------------------------------------ helpers


def _allowed(who: SignedIn) -> None:
    access.require_area(who, AREA)


def _destination_id(request: Request) -> str:
    value: str = request.path_params["destination_id"]
    if "\x00" in value or len(value) > 64:
        raise NotFound("there is nothing at this address")
    return value


def _back(request: Request, path: str = "") -> Response:
    return RedirectResponse(f"{access.base(request)}/settings/conversions{path}", status_code=303)


def _adapter(name: str) -> Platform:
    known = registry.adapters()
    if name not in known:
        raise ValidationFailed(
            f"platform must be one of {', '.join(sorted(known)) or '(none installed)'}",
            details={"field": "platform"},
        )
    return known[name]


def _value(name: str, raw: str) -> Any:
    """A setting as typed: JSON when it is an object or a list, else the text."""
    text = raw.strip()
    if text[:1] in ("{", "["):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValidationFailed(
                f"settings.{name} is not valid JSON ({exc.msg})",
                details={"field": f"settings.{name}"},
            ) from None
    return text


def _settings_of(form: FormData, adapter: Platform) -> dict[str, Any]:
    """The required settings from their fields, and the others from the JSON box."""
    more = fields.text(form, "more_settings", 16 * 1024).strip()
    found: dict[str, Any] = {}
    if more:
        try:
            extra = json.loads(more)
        except json.JSONDecodeError as exc:
            raise ValidationFailed(
                f"more settings is not valid JSON ({exc.msg})", details={"field": "more_settings"}
            ) from None
        if not isinstance(extra, dict):
            raise ValidationFailed(
                'more settings must be a JSON object, such as {"name": "value"}',
                details={"field": "more_settings"},
            )
        found.update(extra)
    for name in adapter.required_settings:
        raw = fields.text(form, f"setting:{name}", 8 * 1024)
        if raw.strip():
            found[name] = _value(name, raw)
    return found


def _credentials_of(form: FormData, adapter: Platform) -> dict[str, str]:
    """The credentials typed (empty fields left out)."""
    typed = {
        name: fields.text(form, f"credential:{name}", 8 * 1024)
        for name in adapter.required_credentials
    }
    return {name: value.strip() for name, value in typed.items() if value.strip()}


def _status_map_of(form: FormData) -> dict[str, str]:
    typed = {
        status: fields.text(form, f"map:{status}", 255).strip() for status in MAPPABLE_STATUSES
    }
    return {status: name for status, name in typed.items() if name}


def _own_status_map(destination: ConversionDestination) -> dict[str, str]:
    found = json.loads(destination.status_map or "{}")
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}


def _form_values(adapter: Platform, destination: ConversionDestination | None) -> dict[str, Any]:
    """What the edit form shows: settings and status map, never credentials."""
    own = conversions.settings_of(destination) if destination else {}
    shown = {}
    for name in adapter.required_settings:
        value = own.get(name, "")
        shown[name] = value if isinstance(value, str) else json.dumps(value)
    more = {k: v for k, v in own.items() if k not in adapter.required_settings}
    return {
        "settings": shown,
        "more_settings": json.dumps(more, indent=2) if more else "",
        "status_map": _own_status_map(destination) if destination else {},
    }


def _platform_view(adapter: Platform) -> dict[str, Any]:
    return {
        "name": adapter.name,
        "required_settings": adapter.required_settings,
        "required_credentials": adapter.required_credentials,
        "default_status_map": dict(adapter.default_status_map),
    }


# ------------------------------------------------------------------------------ pages


@page
async def destinations_page(request: Request, session: AsyncSession, who: SignedIn) -> Response:
    """The workspace's destinations, with their uploads counted by state."""
    _allowed(who)
    listed = (await conversions.list_destinations(session, who.workspace.id)).destinations
    counts = await conversions.upload_counts(session, who.workspace.id)
    return render(
        request,
        "conversions/list.html",
        {
            "destinations": [
                {
                    "destination": one,
                    "status_map": conversions.status_map_of(one),
                    "counts": counts.get(one.id),
                }
                for one in listed
            ],
            "platforms": sorted(registry.adapters()),
            "states": UPLOAD_STATES,
        },
    )


@page
async def new_destination(request: Request, session: AsyncSession, who: SignedIn) -> Response:
    """The form for a destination of the chosen platform (GET); making it (POST)."""
    _allowed(who)
    if request.method == "POST":
        form = await request.form()
        adapter = _adapter(fields.text(form, "platform", 32))
        created = await conversions.create_destination(
            session,
            who.workspace.id,
            who.principal.actor,
            fields.app_settings(request),
            platform=adapter.name,
            name=fields.text(form, "name", 200),
            destination_settings=_settings_of(form, adapter),
            credentials=_credentials_of(form, adapter),
            status_map=_status_map_of(form),
            enabled=fields.text(form, "enabled", 10) == "on",
        )
        return _back(request, f"/{created.id}")
    adapter = _adapter(request.query_params.get("platform", "")[:32])
    return render(
        request,
        "conversions/destination.html",
        {
            "destination": None,
            "platform": _platform_view(adapter),
            "values": _form_values(adapter, None),
            "statuses": MAPPABLE_STATUSES,
            "tested": None,
        },
    )


async def _destination_page(
    request: Request,
    session: AsyncSession,
    who: SignedIn,
    destination: ConversionDestination,
    *,
    tested: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    adapter = _adapter(destination.platform)
    counts = await conversions.upload_counts(session, who.workspace.id)
    return render(
        request,
        "conversions/destination.html",
        {
            "destination": destination,
            "platform": _platform_view(adapter),
            "values": _form_values(adapter, destination),
            "counts": counts.get(destination.id),
            "states": UPLOAD_STATES,
            "statuses": MAPPABLE_STATUSES,
            "tested": tested,
        },
        status_code=status_code,
    )


@page
async def destination_page(request: Request, session: AsyncSession, who: SignedIn) -> Response:
    """A destination's form (GET); changing it (POST): credentials only when typed."""
    _allowed(who)
    destination_id = _destination_id(request)
    destination = await conversions.get_destination(session, who.workspace.id, destination_id)
    if request.method == "POST":
        form = await request.form()
        adapter = _adapter(destination.platform)
        typed = _credentials_of(form, adapter)
        await conversions.update_destination(
            session,
            who.workspace.id,
            who.principal.actor,
            fields.app_settings(request),
            destination.id,
            name=fields.text(form, "name", 200),
            destination_settings=_settings_of(form, adapter),
            credentials=typed or None,
            status_map=_status_map_of(form),
            enabled=fields.text(form, "enabled", 10) == "on",
        )
        return _back(request, f"/{destination.id}")
    return await _destination_page(request, session, who, destination)


@page
async def test_destination(request: Request, session: AsyncSession, who: SignedIn) -> Response:
    """Ask the platform whether the credentials work (uploading nothing); its answer shown."""
    _allowed(who)
    destination_id = _destination_id(request)
    destination = await conversions.get_destination(session, who.workspace.id, destination_id)
    try:
        async with httpx.AsyncClient(timeout=TEST_TIMEOUT) as client:
            message = await conversions.test_destination(
                session,
                who.workspace.id,
                who.principal.actor,
                fields.app_settings(request),
                destination.id,
                client,
            )
    except ValidationFailed as refused:
        return await _destination_page(
            request,
            session,
            who,
            destination,
            tested={"ok": False, "message": refused.message},
            status_code=400,
        )
    return await _destination_page(
        request, session, who, destination, tested={"ok": True, "message": message}
    )


@page
async def delete_destination(request: Request, session: AsyncSession, who: SignedIn) -> Response:
    """Delete a destination and the record of its uploads."""
    _allowed(who)
    await conversions.delete_destination(
        session, who.workspace.id, who.principal.actor, _destination_id(request)
    )
    return _back(request)


# ------------------------------------------------------------------------------ a lead's


async def lead_section(session: AsyncSession, who: SignedIn, lead_id: str) -> dict[str, Any] | None:
    """The conversions section of a lead's page: every platform eligible or blocked (each
    reason in words) and the uploads so far; None for those who do not manage conversions."""
    if AREA not in access.areas_of(who.person.role):
        return None
    found = await conversions.lead_conversions(session, who.workspace.id, lead_id)
    names: Mapping[str, str] = {
        one.id: one.name
        for one in (await conversions.list_destinations(session, who.workspace.id)).destinations
    }
    return {
        "status": found.status,
        "checks": [
            {
                "platform": check.platform,
                "destination": check.destination_name,
                "state": check.state,
                "event": check.event_name,
                "reasons": [reason_in_words(code) for code in check.reasons],
            }
            for check in found.checks
        ],
        "uploads": [
            {
                "destination": names.get(upload.destination_id, upload.destination_id),
                "status": upload.status,
                "event": upload.event_name,
                "state": upload.state,
                "reasons": [
                    reason_in_words(code) for code in (upload.reasons or "").split(",") if code
                ],
                "error": " ".join(
                    part for part in (upload.error_code, upload.error_message) if part
                ),
                "attempts": upload.attempts,
                "sent_at": upload.sent_at,
            }
            for upload in found.uploads
        ],
    }


ROUTES: list[BaseRoute] = [
    Route("/settings/conversions", destinations_page, methods=["GET"]),
    Route("/settings/conversions/new", new_destination, methods=["GET", "POST"]),
    Route("/settings/conversions/{destination_id}", destination_page, methods=["GET", "POST"]),
    Route("/settings/conversions/{destination_id}/test", test_destination, methods=["POST"]),
    Route("/settings/conversions/{destination_id}/delete", delete_destination, methods=["POST"]),
]
