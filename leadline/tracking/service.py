"""Visits: where each one came from (click IDs, UTM, referrer), who it is (with consent, or
cookieless), what happened during it, and how engaged it was."""

from __future__ import annotations

import hashlib
import hmac
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from leadline.errors import Forbidden, NotFound, ValidationFailed
from leadline.forms.service import SiteInfo, host_allowed
from leadline.kit.time import utcnow
from leadline.models import CLICK_ID_FIELDS, VisitSession
from leadline.tracking.enrich import describe
from leadline.tracking.repository import TrackingRepository
from leadline.tracking.schemas import EventIn, SessionEnd, SessionStart

# A visit ends after this long without a request.
SESSION_IDLE = timedelta(minutes=30)
# The largest ``data`` one event may carry, as JSON.
MAX_EVENT_DATA_BYTES = 16_384

# Landing-URL parameters stored verbatim under these names (matched case-insensitively).
_CLICK_PARAMS: dict[str, str] = {
    name: name for name in CLICK_ID_FIELDS if name not in ("fbc", "fbp", "ga4cid", "ga4sid")
}
_UTM = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "utm_id")
_PAID_MEDIUMS = frozenset(
    {
        "cpc",
        "ppc",
        "paid",
        "paidsearch",
        "paid_search",
        "paid-social",
        "paid_social",
        "cpm",
        "cpv",
        "cpa",
        "display",
        "banner",
        "retargeting",
    }
)
_SEARCH = re.compile(
    r"(^|\.)(google\.[a-z.]+|bing\.com|duckduckgo\.com|search\.yahoo\.com|yahoo\.[a-z.]+|"
    r"baidu\.com|yandex\.[a-z.]+|ecosia\.org|search\.brave\.com|startpage\.com)$"
)
_SOCIAL = re.compile(
    r"(^|\.)(facebook\.com|fb\.com|instagram\.com|t\.co|twitter\.com|x\.com|linkedin\.com|"
    r"lnkd\.in|reddit\.com|tiktok\.com|pinterest\.[a-z.]+|youtube\.com|snapchat\.com|"
    r"threads\.net|bsky\.app)$"
)
_VISITOR_ID = re.compile(r"^[A-Za-z0-9_.-]{8,64}$")
LABELS = ((20, "Cold"), (45, "Warm"), (70, "Hot"), (100, "Very Hot"))


# --------------------------------------------------------------------------- attribution


def landing_attribution(url: str, now: datetime) -> dict[str, Any]:
    """Click IDs and UTM tags from a landing URL, plus the site's origin and the path."""
    parts = urlsplit(url)
    found: dict[str, Any] = {}
    if parts.scheme in ("http", "https") and parts.hostname:
        port = f":{parts.port}" if parts.port else ""
        found["website"] = f"{parts.scheme}://{parts.hostname}{port}"[:512]
        found["path"] = (parts.path or "/")[:2048]
    for key, value in parse_qsl(parts.query, keep_blank_values=False):
        name = key.lower()
        value = value.strip()[:512]
        if not value:
            continue
        if name in _CLICK_PARAMS and name not in found:
            found[_CLICK_PARAMS[name]] = value
        elif name == "fbclid" and "fbc" not in found:
            found["fbc"] = f"fb.1.{int(now.timestamp() * 1000)}.{value}"[:512]
        elif name in _UTM and name not in found:
            found[name] = value
    return found


def has_click(attribution: dict[str, Any]) -> bool:
    return any(attribution.get(name) for name in (*_CLICK_PARAMS, "fbc"))


def channel_of(attribution: dict[str, Any], referrer: str, site_domains: list[str]) -> str:
    """paid (a click ID or a paid medium), search, social, referral or direct."""
    medium = (attribution.get("utm_medium") or "").lower()
    if has_click(attribution) or medium in _PAID_MEDIUMS:
        return "paid"
    host = (urlsplit(referrer).hostname or "").lower() if referrer else ""
    if not host or host_allowed(host, site_domains):
        return "direct"
    if _SEARCH.search(host):
        return "search"
    if _SOCIAL.search(host):
        return "social"
    return "referral"


# ------------------------------------------------------------------------------ identity


def cookieless_visitor(secret: str, site_id: str, ip: str, user_agent: str, day: str) -> str:
    """The visitor of a cookieless visit: the same browser on the same site and day maps to
    the same id, and no id can be linked to another day's (the salt changes every day and is
    never stored)."""
    salt = hmac.new(secret.encode(), f"visitor-salt:{day}".encode(), hashlib.sha256).digest()
    digest = hashlib.sha256(salt + f"{site_id}|{ip}|{user_agent}".encode()).hexdigest()
    return "anon_" + digest[:32]


def consent_flags(start: SessionStart) -> tuple[dict[str, bool | None], str]:
    consent = start.consent
    if consent is None:
        return dict.fromkeys(_CONSENT_NAMES), "none"
    mode = (consent.mode or "").lower()
    if mode == "granted":
        return dict.fromkeys(_CONSENT_NAMES, True), consent.source or "site"
    if mode == "denied":
        return dict.fromkeys(_CONSENT_NAMES, False), consent.source or "site"
    flags = {name: getattr(consent, name) for name in _CONSENT_NAMES}
    return flags, consent.source or ("none" if all(v is None for v in flags.values()) else "manual")


_CONSENT_NAMES = ("ad_storage", "ad_user_data", "ad_personalization", "analytics_storage")


# ---------------------------------------------------------------------------- engagement


def engagement(duration_ms: int, max_scroll: int, clicks: int, returns: int) -> tuple[int, str]:
    """The score of a visit, 0-100: a point per 10 s (at most 35), per 3.33% of scroll depth
    (at most 30), per click (at most 20), and 5 per earlier visit (at most 15)."""
    score = (
        min(35, duration_ms // 10_000)
        + min(30, max(0, min(max_scroll, 100)) * 30 // 100)
        + min(20, clicks)
        + min(15, 5 * returns)
    )
    label = next(name for ceiling, name in LABELS if score <= ceiling)
    return score, label


# -------------------------------------------------------------------------------- visits


@dataclass(frozen=True)
class Client:
    """Who sent a request, as the server sees it."""

    ip: str
    user_agent: str
    origin_host: str | None
    country: str | None = None


@dataclass(frozen=True)
class VisitAnswer:
    session_id: str
    visitor_id: str
    timestamp: int
    extra: dict[str, Any]


def check_origin(site: SiteInfo, client: Client) -> None:
    if client.origin_host is None or not host_allowed(client.origin_host, site.domains):
        raise Forbidden(
            f"origin {client.origin_host or '(none)'} is not one of this site's domains"
        )


def _millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


async def start_session(
    session: AsyncSession, site: SiteInfo, start: SessionStart, client: Client, secret: str
) -> VisitAnswer:
    """Resume the browser's current visit, or start one; a new ad click always starts one."""
    check_origin(site, client)
    now = utcnow()
    repo = TrackingRepository(session)
    flags, source = consent_flags(start)
    attribution = landing_attribution(start.url, now)
    if flags["analytics_storage"]:
        # The browser may keep an id: its own, or a new one it stores from this answer.
        given = start.visitorId or ""
        visitor_id = given if _VISITOR_ID.match(given) else f"v_{uuid.uuid4().hex}"
        identified = True
    else:
        day = now.astimezone(UTC).date().isoformat()
        visitor_id = cookieless_visitor(secret, site.site.id, client.ip, client.user_agent, day)
        identified = False

    current: VisitSession | None = None
    if start.sessionId:
        current = await repo.visit(site.site.id, start.sessionId)
    elif not identified:
        current = await repo.latest_visit(site.site.id, visitor_id, now - SESSION_IDLE)
    if (
        current is not None
        and current.last_seen_at >= now - SESSION_IDLE
        and not has_click(attribution)
    ):
        # The tracker ends the visit on every page it leaves: the next page resumes it.
        current.last_seen_at = now
        current.ended_at = None
        return VisitAnswer(current.id, current.visitor_id or visitor_id, _millis(now), {})

    agent = describe(client.user_agent)
    visit = VisitSession(
        id=str(uuid.uuid4()),
        workspace_id=site.site.workspace_id,
        site_id=site.site.id,
        visitor_id=visitor_id,
        identified=identified,
        started_at=now,
        last_seen_at=now,
        referrer=start.referrer[:2048] or None,
        consent_source=source[:16],
        channel=channel_of(attribution, start.referrer, site.domains),
        user_agent=client.user_agent[:512] or None,
        browser=agent.browser,
        os=agent.os,
        device=agent.device,
        bot_reason=agent.bot_reason,
        country=client.country,
        language=start.language,
        timezone=start.timezone,
        screen=start.screen,
        clicked_at=now if has_click(attribution) else None,
        **flags,
        **attribution,
    )
    if flags["ad_storage"]:
        if start.ga is not None:
            visit.ga4cid, visit.ga4sid = start.ga.clientId, start.ga.sessionId
        visit.fbp = start.fbp
    await repo.add_session(visit)
    return VisitAnswer(visit.id, visitor_id, _millis(now), {})


async def _open_visit(
    session: AsyncSession, site: SiteInfo, session_id: str, client: Client
) -> VisitSession:
    check_origin(site, client)
    visit = await TrackingRepository(session).visit(site.site.id, session_id)
    if visit is None:
        raise NotFound(f"session {session_id} is not a session of this site")
    return visit


def _occurred(event: EventIn, now: datetime) -> datetime:
    if event.ts is None:
        return now
    moment = datetime.fromtimestamp(event.ts / 1000, tz=UTC)
    # A browser clock far off is not trusted.
    return moment if abs(moment - now) <= timedelta(days=1) else now


async def record_events(
    session: AsyncSession,
    site: SiteInfo,
    session_id: str,
    events: list[EventIn],
    client: Client,
) -> VisitAnswer:
    visit = await _open_visit(session, site, session_id, client)
    now = utcnow()
    rows = []
    client_ids = [event.id or uuid.uuid4().hex for event in events]
    for event, client_id in zip(events, client_ids, strict=True):
        data = msgspec.json.encode(event.data)
        if len(data) > MAX_EVENT_DATA_BYTES:
            raise ValidationFailed(
                f"the data of a {event.type} event is {len(data)} bytes; at most "
                f"{MAX_EVENT_DATA_BYTES} are accepted"
            )
        rows.append(
            {
                "workspace_id": visit.workspace_id,
                "site_id": site.site.id,
                "session_id": visit.id,
                "client_id": client_id,
                "type": event.type,
                "occurred_at": _occurred(event, now),
                "received_at": now,
                "url": event.url,
                "data": data.decode(),
            }
        )
    inserted = await TrackingRepository(session).add_events(rows)
    # Only events stored now count: a batch sent again changes nothing.
    fresh = [event for event, cid in zip(events, client_ids, strict=True) if cid in inserted]
    stored = len(fresh)
    visit.events += stored
    visit.page_views += sum(1 for event in fresh if event.type == "page_view")
    visit.clicks += sum(1 for event in fresh if event.type == "click")
    for event in fresh:
        if event.type == "scroll":
            depth = event.data.get("depth")
            if isinstance(depth, int | float) and not isinstance(depth, bool):
                visit.max_scroll = max(visit.max_scroll, min(100, max(0, int(depth))))
    visit.last_seen_at = now
    await _score(session, visit, now)
    return VisitAnswer(visit.id, visit.visitor_id or "", _millis(now), {"accepted": stored})


async def end_session(
    session: AsyncSession, site: SiteInfo, end: SessionEnd, client: Client
) -> VisitAnswer:
    visit = await _open_visit(session, site, end.sessionId, client)
    now = utcnow()
    if end.maxScroll is not None:
        visit.max_scroll = max(visit.max_scroll, end.maxScroll)
    if end.clicks is not None:
        visit.clicks = max(visit.clicks, end.clicks)
    if end.durationMs is not None:
        visit.duration_ms = max(visit.duration_ms, end.durationMs)
    visit.ended_at = now
    visit.last_seen_at = now
    await _score(session, visit, now)
    return VisitAnswer(
        visit.id,
        visit.visitor_id or "",
        _millis(now),
        {"engagement_score": visit.engagement_score, "engagement_label": visit.engagement_label},
    )


async def _score(session: AsyncSession, visit: VisitSession, now: datetime) -> None:
    elapsed = int((now - visit.started_at).total_seconds() * 1000)
    visit.duration_ms = max(visit.duration_ms, elapsed)
    returns = await TrackingRepository(session).earlier_visits(visit)
    visit.engagement_score, visit.engagement_label = engagement(
        visit.duration_ms, visit.max_scroll, visit.clicks, returns
    )
