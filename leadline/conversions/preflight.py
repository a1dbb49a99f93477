"""Whether a lead's outcome can reach each ad platform, and every reason it cannot.

Pure: it reads the lead, its visit, the workspace's destinations and the adapters it is
given, and the time; it writes nothing and sends nothing. The delivery records its answer on
each upload it skips, and the API and the command line show it."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from leadline.conversions.platforms.base import AD_PLATFORM_OF, Conversion, Platform
from leadline.models import CLICK_ID_FIELDS, CLICK_PLATFORMS, CONSENT_FIELDS, Lead, Visit

# The reasons, in the order they are listed.
NO_DESTINATION = "no_destination"
DESTINATION_DISABLED = "destination_disabled"
NO_CLICK_ID = "no_click_id"
CONSENT_DENIED = "consent_denied"
WINDOW_PASSED = "window_passed"
EVENT_TOO_OLD = "event_too_old"
MISSING_USER_DATA = "missing_user_data"
REASONS: tuple[str, ...] = (
    NO_DESTINATION,
    DESTINATION_DISABLED,
    NO_CLICK_ID,
    CONSENT_DENIED,
    WINDOW_PASSED,
    EVENT_TOO_OLD,
    MISSING_USER_DATA,
)

# A click ID field's platform, as destinations name platforms.
PLATFORM_OF_FIELD: dict[str, str] = {
    field: AD_PLATFORM_OF[platform]
    for field, platform in CLICK_PLATFORMS
    if platform in AD_PLATFORM_OF
}


@dataclass(frozen=True, slots=True)
class Target:
    """A configured destination as the preflight needs it."""

    id: str
    platform: str
    name: str
    enabled: bool
    status_map: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Check:
    """One platform (through one destination, or none configured) for one lead."""

    platform: str
    destination_id: str | None
    destination_name: str | None
    state: Literal["eligible", "blocked"]
    reasons: tuple[str, ...]
    # The event the lead's status maps to at this destination; None when it maps to none.
    event_name: str | None


def dedupe_key(lead_id: str, destination_id: str, status: str) -> str:
    """The key a platform dedupes on: the same lead reaching the same status again, for the
    same destination, gives the same key."""
    return hashlib.sha256(f"{lead_id}\x1f{destination_id}\x1f{status}".encode()).hexdigest()[:40]


def status_map_of(target_map: Mapping[str, str], platform: Platform | None) -> Mapping[str, str]:
    if target_map:
        return target_map
    return platform.default_status_map if platform is not None else {}


def click_ids_of(lead: Lead, visit: Visit | None) -> dict[str, str]:
    """The click IDs the lead carries, else those of the visit that brought it, verbatim."""
    found: dict[str, str] = {}
    for field in CLICK_ID_FIELDS:
        value = getattr(lead, field, None) or (getattr(visit, field, None) if visit else None)
        if value:
            found[field] = str(value)
    return found


def _split_name(name: str | None) -> tuple[str | None, str | None]:
    if not name or not name.strip():
        return None, None
    first, _, last = name.strip().partition(" ")
    return first, last.strip() or None


def conversion_of(
    lead: Lead,
    visit: Visit | None,
    *,
    key: str,
    event_name: str,
    status: str,
    occurred_at: datetime,
) -> Conversion:
    """The lead's ``status`` as a conversion; a won lead carries its value."""
    first, last = _split_name(lead.name)
    # Plain notation: amounts come back from the database normalised (1.2E+3 for 1200).
    value = Decimal(format(lead.value, "f")) if status == "won" and lead.value is not None else None
    page_url = f"{lead.website}{lead.path or ''}" if lead.website else None
    return Conversion(
        key=key,
        lead_id=lead.id,
        event_name=event_name,
        occurred_at=occurred_at,
        value=value,
        currency=lead.currency if value is not None else None,
        click_ids=click_ids_of(lead, visit),
        email=lead.email,
        phone_e164=lead.phone_e164,
        first_name=first,
        last_name=last,
        consent={name: getattr(lead, name) for name in CONSENT_FIELDS},
        ip=None,
        user_agent=visit.user_agent if visit is not None else None,
        page_url=page_url,
        country=visit.country if visit is not None else None,
    )


def _clicked_at(lead: Lead, visit: Visit | None) -> datetime | None:
    return lead.clicked_at or (visit.clicked_at if visit is not None else None)


def _reasons(
    lead: Lead,
    visit: Visit | None,
    platform_name: str,
    platform: Platform | None,
    target: Target | None,
    conversion: Conversion,
    now: datetime,
) -> list[str]:
    reasons: list[str] = []
    if target is None:
        reasons.append(NO_DESTINATION)
    elif not target.enabled:
        reasons.append(DESTINATION_DISABLED)
    if platform is None:
        return reasons
    has_click = any(conversion.click_ids.get(field) for field in platform.click_fields)
    if not has_click and not platform.matches_without_click:
        reasons.append(NO_CLICK_ID)
    if any(conversion.consent.get(flag) is not True for flag in platform.required_consent):
        reasons.append(CONSENT_DENIED)
    if has_click:
        clicked = _clicked_at(lead, visit)
        if clicked is not None:
            deadline: datetime | None = clicked + platform.click_window
        elif lead.expires_at is not None and AD_PLATFORM_OF.get(lead.ad_platform or "") == (
            platform_name
        ):
            deadline = lead.expires_at
        else:
            deadline = None
        if deadline is not None and deadline < now:
            reasons.append(WINDOW_PASSED)
    if platform.max_event_age is not None and conversion.occurred_at < now - platform.max_event_age:
        reasons.append(EVENT_TOO_OLD)
    for reason in platform.blockers(conversion, now):
        if reason not in reasons:
            reasons.append(reason)
    return reasons


def preflight(
    lead: Lead,
    visit: Visit | None,
    targets: Sequence[Target],
    adapters: Mapping[str, Platform],
    *,
    status: str,
    occurred_at: datetime,
    now: datetime,
) -> list[Check]:
    """Every platform the lead could reach with its ``status`` (reached at ``occurred_at``):
    each configured destination, and each platform whose click ID it carries but that has
    none; each eligible or blocked with every reason that applies."""
    checks: list[Check] = []
    seen_platforms: set[str] = set()
    for target in targets:
        seen_platforms.add(target.platform)
        checks.append(
            _check(lead, visit, target.platform, adapters, target, status, occurred_at, now)
        )
    carried = click_ids_of(lead, visit)
    for field in carried:
        name = PLATFORM_OF_FIELD.get(field)
        if name is not None and name not in seen_platforms:
            seen_platforms.add(name)
            checks.append(_check(lead, visit, name, adapters, None, status, occurred_at, now))
    return checks


def _check(
    lead: Lead,
    visit: Visit | None,
    platform_name: str,
    adapters: Mapping[str, Platform],
    target: Target | None,
    status: str,
    occurred_at: datetime,
    now: datetime,
) -> Check:
    platform = adapters.get(platform_name)
    mapping = status_map_of(target.status_map if target else {}, platform)
    event_name = mapping.get(status)
    conversion = conversion_of(
        lead,
        visit,
        key=dedupe_key(lead.id, target.id if target else platform_name, status),
        event_name=event_name or status,
        status=status,
        occurred_at=occurred_at,
    )
    reasons = _reasons(lead, visit, platform_name, platform, target, conversion, now)
    return Check(
        platform=platform_name,
        destination_id=target.id if target else None,
        destination_name=target.name if target else None,
        state="blocked" if reasons else "eligible",
        reasons=tuple(reasons),
        event_name=event_name,
    )


def describe(check: Check) -> dict[str, Any]:
    """A check as the API and the command line show it."""
    return {
        "platform": check.platform,
        "destination_id": check.destination_id,
        "destination_name": check.destination_name,
        "state": check.state,
        "reasons": list(check.reasons),
        "event_name": check.event_name,
    }
