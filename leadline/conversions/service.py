"""Conversion destinations, the preflight of a lead, and the uploads made for it."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from leadline.audit import service as audit
from leadline.audit.service import Actor
from leadline.config import Settings
from leadline.conversions import preflight as checks
from leadline.conversions import secrets
from leadline.conversions.platforms import google_csv, registry
from leadline.conversions.platforms.base import (
    Conversion,
    Destination,
    Platform,
    SettingsRefused,
)
from leadline.conversions.repository import ConversionRepository
from leadline.conversions.trigger import MAPPABLE_STATUSES
from leadline.errors import NotFound, ValidationFailed
from leadline.kit import cursors
from leadline.kit.ids import new_id
from leadline.kit.time import utcnow
from leadline.leads import service as leads
from leadline.models import ConversionDestination, ConversionUpload, Lead, Visit
from leadline.tracking import visits
from leadline.workspaces import service as workspaces

# Leads whose click can be uploaded for less than this long are listed as expiring.
EXPIRING_WITHIN = timedelta(days=7)


# ------------------------------------------------------------------------------ helpers


def _json_object(raw: str | None) -> dict[str, Any]:
    found = json.loads(raw or "{}")
    return found if isinstance(found, dict) else {}


def settings_of(destination: ConversionDestination) -> dict[str, Any]:
    return _json_object(destination.settings)


def status_map_of(destination: ConversionDestination) -> dict[str, str]:
    """The destination's status map, or its platform's defaults when it gives none."""
    own = {str(k): str(v) for k, v in _json_object(destination.status_map).items()}
    platform = registry.adapters().get(destination.platform)
    return dict(checks.status_map_of(own, platform))


def target_of(destination: ConversionDestination) -> checks.Target:
    return checks.Target(
        id=destination.id,
        platform=destination.platform,
        name=destination.name,
        enabled=destination.enabled,
        status_map=status_map_of(destination),
    )


def base_url_of(settings: Settings, platform: Platform) -> str:
    """Where the platform's API is: the instance's setting for it, else the platform's own."""
    configured = {
        "google": settings.conversions_base_url_google,
        "meta": settings.conversions_base_url_meta,
        "microsoft": settings.conversions_base_url_microsoft,
        "tiktok": settings.conversions_base_url_tiktok,
        "linkedin": settings.conversions_base_url_linkedin,
        "reddit": settings.conversions_base_url_reddit,
        "snapchat": settings.conversions_base_url_snapchat,
    }.get(platform.name)
    return str(configured or platform.default_base_url).rstrip("/")


async def _secret_key(session: AsyncSession, settings: Settings) -> str:
    return await workspaces.ensure_secret_key(session, settings.secret_key)


async def destination_for_adapter(
    session: AsyncSession, settings: Settings, destination: ConversionDestination
) -> Destination:
    """The destination as its adapter sees it: credentials unsealed, base URL resolved."""
    platform = registry.adapter(destination.platform)
    return Destination(
        id=destination.id,
        platform=destination.platform,
        settings=settings_of(destination),
        credentials=secrets.unseal(await _secret_key(session, settings), destination.credentials),
        base_url=base_url_of(settings, platform),
    )


def _platform(name: str) -> Platform:
    known = registry.adapters()
    if name not in known:
        raise ValidationFailed(
            f"platform must be one of {', '.join(sorted(known)) or '(none installed)'}",
            details={"field": "platform", "valid": sorted(known)},
        )
    return known[name]


def _check_status_map(status_map: Mapping[str, Any]) -> dict[str, str]:
    for status, name in status_map.items():
        if status not in MAPPABLE_STATUSES:
            raise ValidationFailed(
                f"status_map: {status!r} is not a pipeline status; use "
                f"{', '.join(MAPPABLE_STATUSES)}",
                details={"field": "status_map", "value": status},
            )
        if not isinstance(name, str) or not name.strip() or len(name) > 255:
            raise ValidationFailed(
                f"status_map.{status} must be an event or conversion-action name (1-255 "
                "characters)",
                details={"field": f"status_map.{status}"},
            )
    return {status: str(name).strip() for status, name in status_map.items()}


def _checked(
    platform: Platform, settings: Mapping[str, Any], credentials: Mapping[str, str]
) -> None:
    for name, value in credentials.items():
        if not isinstance(value, str):
            raise ValidationFailed(
                f"credentials.{name} must be a string", details={"field": f"credentials.{name}"}
            )
    try:
        platform.check(settings, credentials)
    except SettingsRefused as refused:
        field = refused.field_name
        raise ValidationFailed(refused.message, details={"field": field}) from None


# ------------------------------------------------------------------------- destinations


async def create_destination(
    session: AsyncSession,
    workspace_id: str,
    actor: Actor,
    settings: Settings,
    *,
    platform: str,
    name: str,
    destination_settings: Mapping[str, Any],
    credentials: Mapping[str, str],
    status_map: Mapping[str, str] | None = None,
    enabled: bool = True,
) -> ConversionDestination:
    adapter = _platform(platform)
    name = name.strip()
    if not name or len(name) > 200:
        raise ValidationFailed("name must be 1 to 200 characters", details={"field": "name"})
    _checked(adapter, destination_settings, credentials)
    mapped = _check_status_map(status_map or {})
    now = utcnow()
    destination = ConversionDestination(
        id=new_id("cvd"),
        workspace_id=workspace_id,
        platform=platform,
        name=name,
        settings=json.dumps(dict(destination_settings), separators=(",", ":")),
        credentials=secrets.seal(await _secret_key(session, settings), credentials),
        status_map=json.dumps(mapped, separators=(",", ":")),
        enabled=enabled,
        created_at=now,
        updated_at=now,
    )
    await ConversionRepository(session).add_destination(destination)
    await audit.record(
        session,
        workspace_id,
        actor,
        "conversion_destination.created",
        "conversion_destination",
        destination.id,
        # Never the credentials: only which ones were given.
        {
            "platform": (None, platform),
            "name": (None, name),
            "credentials": (None, sorted(credentials)),
        },
    )
    return destination


async def get_destination(
    session: AsyncSession, workspace_id: str, destination_id: str
) -> ConversionDestination:
    valid = len(destination_id) <= 64 and destination_id.isascii() and destination_id.isprintable()
    found = (
        await ConversionRepository(session).destination(workspace_id, destination_id)
        if valid
        else None
    )
    if found is None:
        raise NotFound(
            f"destination '{destination_id}' not found",
            details={"id": destination_id},
            resource="destination",
        )
    return found


@dataclass(frozen=True)
class DestinationPage:
    destinations: list[ConversionDestination]
    has_more: bool


async def list_destinations(
    session: AsyncSession,
    workspace_id: str,
    *,
    limit: int | None = None,
    after: tuple[datetime, str] | None = None,
) -> DestinationPage:
    rows = await ConversionRepository(session).destinations(
        workspace_id, limit=None if limit is None else limit + 1, after=after
    )
    if limit is None:
        return DestinationPage(rows, False)
    found, more = cursors.cut(rows, limit)
    return DestinationPage(found, more)


async def update_destination(
    session: AsyncSession,
    workspace_id: str,
    actor: Actor,
    settings: Settings,
    destination_id: str,
    *,
    name: str | None = None,
    destination_settings: Mapping[str, Any] | None = None,
    credentials: Mapping[str, str] | None = None,
    status_map: Mapping[str, str] | None = None,
    enabled: bool | None = None,
) -> ConversionDestination:
    """Change what is given; credentials given replace the stored ones whole."""
    destination = await get_destination(session, workspace_id, destination_id)
    adapter = _platform(destination.platform)
    secret_key = await _secret_key(session, settings)
    changes: dict[str, tuple[Any, Any]] = {}
    if name is not None:
        name = name.strip()
        if not name or len(name) > 200:
            raise ValidationFailed("name must be 1 to 200 characters", details={"field": "name"})
        changes["name"] = (destination.name, name)
        destination.name = name
    if destination_settings is not None or credentials is not None:
        new_settings = (
            dict(destination_settings)
            if destination_settings is not None
            else settings_of(destination)
        )
        new_credentials = (
            dict(credentials)
            if credentials is not None
            else secrets.unseal(secret_key, destination.credentials)
        )
        _checked(adapter, new_settings, new_credentials)
        if destination_settings is not None:
            changes["settings"] = (settings_of(destination), new_settings)
            destination.settings = json.dumps(new_settings, separators=(",", ":"))
        if credentials is not None:
            changes["credentials"] = (None, sorted(new_credentials))
            destination.credentials = secrets.seal(secret_key, new_credentials)
    if status_map is not None:
        mapped = _check_status_map(status_map)
        changes["status_map"] = (_json_object(destination.status_map), mapped)
        destination.status_map = json.dumps(mapped, separators=(",", ":"))
    if enabled is not None and enabled != destination.enabled:
        changes["enabled"] = (destination.enabled, enabled)
        destination.enabled = enabled
    destination.updated_at = utcnow()
    await session.flush()
    if changes:
        await audit.record(
            session,
            workspace_id,
            actor,
            "conversion_destination.updated",
            "conversion_destination",
            destination.id,
            changes,
        )
    return destination


async def delete_destination(
    session: AsyncSession, workspace_id: str, actor: Actor, destination_id: str
) -> None:
    """Delete a destination and the record of its uploads."""
    destination = await get_destination(session, workspace_id, destination_id)
    await ConversionRepository(session).delete_destination(workspace_id, destination.id)
    await audit.record(
        session,
        workspace_id,
        actor,
        "conversion_destination.deleted",
        "conversion_destination",
        destination.id,
        {"platform": (destination.platform, None), "name": (destination.name, None)},
    )


async def test_destination(
    session: AsyncSession,
    workspace_id: str,
    actor: Actor,
    settings: Settings,
    destination_id: str,
    client: httpx.AsyncClient,
) -> str:
    """Ask the platform whether the destination's credentials work; what was checked. A
    refusal is a 400 naming the field."""
    destination = await get_destination(session, workspace_id, destination_id)
    adapter = registry.adapter(destination.platform)
    seen = await destination_for_adapter(session, settings, destination)
    try:
        return await adapter.test_connection(client, seen)
    except SettingsRefused as refused:
        raise ValidationFailed(refused.message, details={"field": refused.field_name}) from None


@dataclass(frozen=True)
class UploadCounts:
    """A destination's uploads by state (pending, sent, skipped, failed), and when the
    newest of them last changed (None: none yet)."""

    by_state: dict[str, int]
    last_at: datetime | None


async def upload_counts(session: AsyncSession, workspace_id: str) -> dict[str, UploadCounts]:
    """The uploads of each of the workspace's destinations, counted by state (a destination
    with none is absent)."""
    found: dict[str, UploadCounts] = {}
    for destination_id, state, count, at in await ConversionRepository(session).upload_counts(
        workspace_id
    ):
        was = found.get(destination_id) or UploadCounts({}, None)
        last = max((t for t in (was.last_at, at) if t is not None), default=None)
        found[destination_id] = UploadCounts({**was.by_state, state: count}, last)
    return found


# ---------------------------------------------------------------------------- preflight


@dataclass(frozen=True)
class LeadConversions:
    lead: Lead
    status: str
    checks: list[checks.Check]
    uploads: list[ConversionUpload]


async def _lead(session: AsyncSession, workspace_id: str, lead_id: str) -> Lead:
    valid = len(lead_id) <= 64 and lead_id.isascii() and lead_id.isprintable()
    found = (
        (await leads.leads_by_id(session, workspace_id, [lead_id])).get(lead_id) if valid else None
    )
    if found is None:
        raise NotFound(f"lead '{lead_id}' not found", details={"id": lead_id}, resource="lead")
    return found


async def _visit(session: AsyncSession, lead: Lead) -> Visit | None:
    if not lead.visit_id:
        return None
    return await visits.visit_of(session, lead.workspace_id, lead.visit_id)


async def _status_reached_at(session: AsyncSession, lead: Lead) -> datetime:
    for change in await leads.status_history(session, lead.workspace_id, lead.id):
        if change.to_status == lead.status:
            return change.changed_at
    return lead.created_at


async def workspace_of_lead(session: AsyncSession, lead_id: str) -> str:
    """The workspace of the lead ``lead_id`` (the command line names a lead by id alone)."""
    found = await leads.workspace_of_lead(session, lead_id)
    if found is None:
        raise NotFound(f"lead '{lead_id}' not found", details={"id": lead_id}, resource="lead")
    return found


async def lead_conversions(
    session: AsyncSession, workspace_id: str, lead_id: str, *, now: datetime | None = None
) -> LeadConversions:
    """The preflight of the lead's current status for every platform it could reach, and the
    uploads made for it so far."""
    lead = await _lead(session, workspace_id, lead_id)
    visit = await _visit(session, lead)
    targets = [target_of(d) for d in (await list_destinations(session, workspace_id)).destinations]
    found = checks.preflight(
        lead,
        visit,
        targets,
        registry.adapters(),
        status=lead.status,
        occurred_at=await _status_reached_at(session, lead),
        now=now or utcnow(),
    )
    uploads = await ConversionRepository(session).uploads_of_lead(workspace_id, lead.id)
    return LeadConversions(lead, lead.status, found, uploads)


# ----------------------------------------------------------------------------- expiring


@dataclass(frozen=True)
class ExpiringPage:
    leads: list[Lead]
    has_more: bool
    # The last lead read, converted or not: where the next page starts.
    last: Lead | None


async def expiring(
    session: AsyncSession,
    workspace_id: str,
    *,
    limit: int,
    after: tuple[datetime, str] | None = None,
    now: datetime | None = None,
) -> ExpiringPage:
    """Open and qualified leads whose click expires within seven days and that no upload has
    reached yet, soonest first (a page may hold fewer than ``limit``: converted ones are
    left out of it)."""
    now = now or utcnow()
    rows = await leads.click_expiring(
        session, workspace_id, now, now + EXPIRING_WITHIN, limit=limit + 1, after=after
    )
    found, more = cursors.cut(rows, limit)
    sent = await ConversionRepository(session).leads_sent(workspace_id, [lead.id for lead in found])
    kept = [lead for lead in found if lead.id not in sent]
    return ExpiringPage(kept, more, found[-1] if found else None)


async def leads_sent(session: AsyncSession, workspace_id: str, lead_ids: Sequence[str]) -> set[str]:
    return await ConversionRepository(session).leads_sent(workspace_id, lead_ids)


# ------------------------------------------------------------------ Google's offline file

# The platforms whose conversions can be exported as a file, by name.
EXPORTABLE: tuple[str, ...] = ("google",)
# The statuses a file holds a row for.
EXPORTED_STATUSES: tuple[str, ...] = ("qualified", "won")
# The longest span one file may cover.
EXPORT_MAX_DAYS = 366


def _export_day(text: str, name: str) -> date:
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        day = None
    # Bounded, so that a day's start in any time zone is a time Python can hold.
    if day is None or not 1900 <= day.year <= 9000:
        raise ValidationFailed(
            f"{name} must be a day as YYYY-MM-DD (years 1900 to 9000), not {text[:40]!r}",
            details={"field": name},
        )
    return day


@dataclass(frozen=True)
class ExportRange:
    """What an export covers: the days ``first`` to ``last`` (both included) in ``timezone``."""

    first: date
    last: date
    timezone: str
    zone: ZoneInfo

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time.min, tzinfo=self.zone).astimezone(UTC)

    @property
    def end(self) -> datetime:
        after = self.last + timedelta(days=1)
        return datetime.combine(after, time.min, tzinfo=self.zone).astimezone(UTC)


def export_range(platform: str, first: str, last: str, timezone: str = "UTC") -> ExportRange:
    """Check an export's request; a 400 naming the field at fault."""
    if platform not in EXPORTABLE:
        raise ValidationFailed(
            f"platform must be one of {', '.join(EXPORTABLE)}: only Google takes a "
            "conversions file; the other platforms take uploads through a destination",
            details={"field": "platform", "valid": list(EXPORTABLE)},
        )
    start, end = _export_day(first, "from"), _export_day(last, "to")
    if end < start:
        raise ValidationFailed("to must be on or after from", details={"field": "to"})
    if (end - start).days >= EXPORT_MAX_DAYS:
        raise ValidationFailed(
            f"to must be less than {EXPORT_MAX_DAYS} days after from (an export covers at most "
            f"{EXPORT_MAX_DAYS} days)",
            details={"field": "to"},
        )
    name = timezone.strip()
    try:
        zone = ZoneInfo(name) if name and len(name) <= 64 and name.isprintable() else None
    except (ValueError, OSError, ZoneInfoNotFoundError):
        # Not a zone: unknown, not a file of the zone database, or a folder of it (Europe).
        zone = None
    if zone is None:
        raise ValidationFailed(
            f"timezone must be an IANA time zone name such as Europe/Amsterdam or UTC, not "
            f"{timezone[:64]!r}",
            details={"field": "timezone"},
        )
    return ExportRange(start, end, name, zone)


async def offline_conversions(
    session: AsyncSession, workspace_id: str, span: ExportRange
) -> list[Conversion]:
    """The workspace's leads that reached qualified or won within ``span``, one conversion per
    lead and status (the first time it reached it), named by the workspace's Google
    destination's status map (the newest, when there are several) or Google's defaults. Leads
    without the consent Google requires are left out, as they are from uploads."""
    google = registry.adapter("google")
    destination = next(
        (
            d
            for d in (await list_destinations(session, workspace_id)).destinations
            if d.platform == google.name
        ),
        None,
    )
    names = (
        status_map_of(destination)
        if destination is not None
        else dict(checks.status_map_of({}, google))
    )
    wanted = [status for status in EXPORTED_STATUSES if status in names]
    changes = await leads.status_changes_between(
        session, workspace_id, wanted, span.start, span.end
    )
    found = await leads.leads_by_id(session, workspace_id, [c.lead_id for c in changes])
    by_visit = await visits.visits_of(
        session, workspace_id, (lead.visit_id for lead in found.values() if lead.visit_id)
    )
    target = destination.id if destination is not None else google.name
    made: list[Conversion] = []
    seen: set[tuple[str, str]] = set()
    for change in changes:
        lead = found.get(change.lead_id)
        if lead is None or (lead.id, change.to_status) in seen:
            continue
        seen.add((lead.id, change.to_status))
        conversion = checks.conversion_of(
            lead,
            by_visit.get(lead.visit_id) if lead.visit_id else None,
            key=checks.dedupe_key(lead.id, target, change.to_status),
            event_name=names[change.to_status],
            status=change.to_status,
            occurred_at=change.changed_at,
        )
        if any(conversion.consent.get(flag) is not True for flag in google.required_consent):
            continue
        made.append(conversion)
    return made


async def offline_csv(session: AsyncSession, workspace_id: str, span: ExportRange) -> Iterator[str]:
    """Google's offline-conversion file of the conversions within ``span``, line by line."""
    return google_csv.offline_csv(
        await offline_conversions(session, workspace_id, span), span.timezone
    )
