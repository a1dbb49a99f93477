"""Visits: where each one came from (click IDs, UTM, referrer), who it is (with consent, or
cookieless), what happened during it, and how engaged it was."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import os
import random
import re
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import msgspec

from leadline.errors import Forbidden, LeadlineError, NotFound, ValidationFailed
from leadline.kit.time import iso_micros
from leadline.models import CLICK_ID_FIELDS
from leadline.sites.service import SiteInfo, host_allowed
from leadline.tracking.enrich import describe
from leadline.tracking.repository import (
    DailyCount,
    TrackingStore,
    VisitorTouch,
    VisitState,
    event_time,
)
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
# The label of each score, 0-100 (looked up for every event of every visit).
_LABEL_OF = tuple(
    next(name for ceiling, name in LABELS if score <= ceiling) for score in range(101)
)


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
    host = _external_host(referrer, site_domains)
    if host is None:
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


def consent_flags(
    start: SessionStart, *, dnt: bool = False, gpc: bool = False
) -> tuple[dict[str, bool | None], str]:
    """The four Consent Mode flags of a visit and where they came from. ``dnt`` and ``gpc`` are
    privacy signals the browser sent and the site honours: Do Not Track refuses everything,
    Global Privacy Control refuses the three ad flags; either overrides what the page said."""
    flags, source = _stated_consent(start)
    if dnt:
        return dict.fromkeys(_CONSENT_NAMES, False), "dnt"
    if gpc:
        return {**flags, **dict.fromkeys(_AD_FLAGS, False)}, "gpc"
    return flags, source


def _stated_consent(start: SessionStart) -> tuple[dict[str, bool | None], str]:
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


_AD_FLAGS = ("ad_storage", "ad_user_data", "ad_personalization")
_CONSENT_NAMES = (*_AD_FLAGS, "analytics_storage")


def fingerprint_ids(site_id: str, fingerprint: str, user_agent: str) -> tuple[str, str]:
    """The visitor and device ids a fingerprint stands for on one site (reference 3.3, scoped
    to the site so that no id links a browser's visits to two sites)."""
    visitor = hashlib.sha256(f"visitor:{site_id}:{fingerprint}".encode()).hexdigest()
    device = hashlib.sha256(f"device:{site_id}:{user_agent}|{fingerprint}".encode()).hexdigest()
    return visitor, device


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
    return score, _LABEL_OF[min(max(score, 0), 100)]


# -------------------------------------------------------------------------------- visits


# The values below are made for every tracking request: plain slotted dataclasses, which are
# built several times faster than frozen ones (nothing changes them once made).
@dataclass(slots=True)
class Client:
    """Who sent a request, as the server sees it; ``dnt`` and ``gpc`` are the privacy signals
    its headers carried (``DNT: 1``, ``Sec-GPC: 1``)."""

    ip: str
    user_agent: str
    origin_host: str | None
    country: str | None = None
    dnt: bool = False
    gpc: bool = False


@dataclass(slots=True)
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


# ----------------------------------------------------- what a request hands the writer
#
# A request checks and prepares its work (origin, consent, identity, validation) on its own;
# the writer then applies the work of many requests in one transaction (apply_group).


@dataclass(slots=True)
class StartWork:
    """Resume the browser's visit (``session_id``, or for a cookieless visitor the latest one
    within 30 minutes), or start a visit with ``columns``."""

    site: SiteInfo
    session_id: str | None
    visitor_id: str
    identified: bool
    clicked: bool
    columns: dict[str, Any]
    # Rollup dimensions the visit counts under, and its touch (attribution JSON) if any.
    dimensions: tuple[tuple[str, str], ...]
    touch: str | None

    @property
    def size(self) -> int:
        return 1


@dataclass(slots=True)
class EventSummary:
    """What a visit's events add to it and to the rollups."""

    events: int
    page_views: int
    clicks: int
    max_scroll: int | None
    types: dict[str, int]
    pages: dict[str, int]


@dataclass(slots=True)
class EventsWork:
    """Events of one visit: the rows to insert (in the order of the store's
    ``EVENT_COLUMNS``), their summary, and the scroll depth of each scroll event by row."""

    site: SiteInfo
    session_id: str
    rows: list[tuple[Any, ...]]
    summary: EventSummary
    depths: dict[int, int]

    @property
    def size(self) -> int:
        return len(self.rows)


def summarise(
    rows: Sequence[tuple[Any, ...]], depths: dict[int, int], indexes: Sequence[int]
) -> EventSummary:
    """The summary of the events at ``indexes`` of ``rows``."""
    types: dict[str, int] = {}
    pages: dict[str, int] = {}
    clicks = 0
    for index in indexes:
        kind = rows[index][4]
        types[kind] = types.get(kind, 0) + 1
        if kind == "page_view":
            path = page_path(rows[index][7])
            pages[path] = pages.get(path, 0) + 1
        elif kind == "click":
            clicks += 1
    scrolled = [depths[index] for index in indexes if index in depths]
    return EventSummary(
        events=len(indexes),
        page_views=types.get("page_view", 0),
        clicks=clicks,
        max_scroll=max(scrolled) if scrolled else None,
        types=types,
        pages=pages,
    )


@dataclass(slots=True)
class EndWork:
    site: SiteInfo
    session_id: str
    duration_ms: int | None
    max_scroll: int | None
    clicks: int | None

    @property
    def size(self) -> int:
        return 1


Work = StartWork | EventsWork | EndWork


def prepare_start(
    site: SiteInfo, start: SessionStart, client: Client, secret: str, now: datetime
) -> StartWork:
    check_origin(site, client)
    flags, source = consent_flags(
        start,
        dnt=site.site.respect_dnt and (start.dnt or client.dnt),
        gpc=site.site.respect_gpc and (start.gpc or client.gpc),
    )
    attribution = landing_attribution(start.url, now)
    clicked = has_click(attribution)
    device_id = None
    if flags["analytics_storage"]:
        # The browser may keep an id: its own, or a new one it stores from this answer; with
        # fingerprinting on, the fingerprint names the visitor and the device.
        given = start.visitorId or ""
        visitor_id = given if _VISITOR_ID.match(given) else f"v_{uuid.uuid4().hex}"
        if site.site.fingerprinting and start.fingerprintId:
            visitor_id, device_id = fingerprint_ids(
                site.site_id, start.fingerprintId, client.user_agent
            )
        identified = True
    else:
        day = now.astimezone(UTC).date().isoformat()
        visitor_id = cookieless_visitor(secret, site.site_id, client.ip, client.user_agent, day)
        identified = False
    agent = describe(client.user_agent)
    channel = channel_of(attribution, start.referrer, site.domains)
    columns: dict[str, Any] = {
        "workspace_id": site.workspace_id,
        "site_id": site.site_id,
        "visitor_id": visitor_id,
        "identified": identified,
        "device_id": device_id,
        "referrer": start.referrer[:2048] or None,
        "consent_source": source[:16],
        "channel": channel,
        "user_agent": client.user_agent[:512] or None,
        "browser": agent.browser,
        "os": agent.os,
        "device": agent.device,
        "bot_reason": agent.bot_reason,
        "country": client.country,
        "language": start.language,
        "timezone": start.timezone,
        "screen": start.screen,
        "clicked_at": now if clicked else None,
        **flags,
        **attribution,
    }
    if flags["ad_storage"]:
        if start.ga is not None:
            columns["ga4cid"], columns["ga4sid"] = start.ga.clientId, start.ga.sessionId
        columns["fbp"] = start.fbp
    return StartWork(
        site=site,
        session_id=start.sessionId,
        visitor_id=visitor_id,
        identified=identified,
        clicked=clicked,
        columns=columns,
        dimensions=_dimensions(columns, start.referrer, site.domains),
        touch=_touch(columns, channel, now),
    )


def _external_host(referrer: str, site_domains: list[str]) -> str | None:
    host = (urlsplit(referrer).hostname or "").lower() if referrer else ""
    return host if host and not host_allowed(host, site_domains) else None


def _dimensions(
    columns: dict[str, Any], referrer: str, site_domains: list[str]
) -> tuple[tuple[str, str], ...]:
    host = _external_host(referrer, site_domains)
    found = {
        "channel": columns.get("channel"),
        "source": columns.get("utm_source") or host or "(direct)",
        "campaign": columns.get("utm_campaign"),
        "referrer": host,
        "landing": columns.get("path"),
        "country": columns.get("country"),
        "browser": columns.get("browser"),
        "os": columns.get("os"),
        "device": columns.get("device"),
    }
    return tuple((name, str(value)[:512]) for name, value in found.items() if value)


_TOUCH_FIELDS = ("website", "path", "referrer", "clicked_at", *_UTM, *CLICK_ID_FIELDS)


def _touch(columns: dict[str, Any], channel: str, now: datetime) -> str | None:
    """A visit's attribution, when it came from somewhere: an ad click, a tagged link, or a
    search engine, social network or other site."""
    if channel == "direct" and not any(columns.get(name) for name in _UTM):
        return None
    touch: dict[str, Any] = {"channel": channel}
    for name in _TOUCH_FIELDS:
        value = columns.get(name)
        if value:
            touch[name] = iso_micros(value) if isinstance(value, datetime) else value
    return msgspec.json.encode(touch).decode()


def prepare_events(
    site: SiteInfo, session_id: str, events: list[EventIn], client: Client, now: datetime
) -> EventsWork:
    check_origin(site, client)
    workspace_id, site_id = site.workspace_id, site.site_id
    received = event_time(now)
    rows: list[tuple[Any, ...]] = []
    depths: dict[int, int] = {}
    for index, event in enumerate(events):
        data = bytes(event.data)
        if len(data) > MAX_EVENT_DATA_BYTES:
            raise ValidationFailed(
                f"the data of a {event.type} event is {len(data)} bytes; at most "
                f"{MAX_EVENT_DATA_BYTES} are accepted"
            )
        if data[:1] != b"{":
            raise ValidationFailed(f"the data of a {event.type} event must be a JSON object")
        try:
            text = data.decode()
        except UnicodeDecodeError:
            raise ValidationFailed(f"the data of a {event.type} event is not UTF-8") from None
        if event.type == "scroll":
            depth = _scroll_depth(data)
            if depth is not None:
                depths[index] = depth
        rows.append(
            (
                workspace_id,
                site_id,
                session_id,
                event.id or server_event_id(),
                event.type,
                received if event.ts is None else event_time(_occurred(event.ts, now)),
                received,
                event.url,
                text,
            )
        )
    summary = summarise(rows, depths, range(len(rows)))
    return EventsWork(site, session_id, rows, summary, depths)


def _scroll_depth(data: bytes) -> int | None:
    raw = msgspec.json.decode(data).get("depth")
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return min(100, max(0, int(raw)))
    return None


class _ServerIds:
    """Ids for the events a browser sends without one: a counter that starts at the time the
    process did (in microseconds, 13 hex digits until the next century) and 32 random bits
    drawn then. They increase within a process, so a visit's new events go to the end of the
    events index; two processes (forked ones included) share an id only if they drew the same
    32 bits and their counters meet, and none costs a system call."""

    def __init__(self) -> None:
        self.reset()
        os.register_at_fork(after_in_child=self.reset)

    def reset(self) -> None:
        self.counter = itertools.count(time.time_ns() // 1000)
        self.tag = f"{random.getrandbits(32):08x}"

    def __call__(self) -> str:
        return hex(next(self.counter))[2:] + self.tag


server_event_id = _ServerIds()


def prepare_end(site: SiteInfo, end: SessionEnd, client: Client) -> EndWork:
    check_origin(site, client)
    return EndWork(site, end.sessionId, end.durationMs, end.maxScroll, end.clicks)


def _occurred(ts: int, now: datetime) -> datetime:
    moment = datetime.fromtimestamp(ts / 1000, tz=UTC)
    # A browser clock far off is not trusted.
    return moment if abs(moment - now) <= timedelta(days=1) else now


def page_path(url: str | None) -> str:
    if not url:
        return "/"
    return (urlsplit(url).path or "/")[:512]


# ---------------------------------------------------------------- the writer's group


class VisitCache:
    """The visits a writer has committed lately, as it committed them, so that the next group
    changes them without reading them first. Each is changed only where its revision is still
    the one remembered (``TrackingStore.update_visits``): when another process changed a
    visit meanwhile, the group is undone and applied again from what the database holds.
    At most ``size`` visits are kept, the least recently used going first."""

    def __init__(self, size: int = 20_000) -> None:
        self.size = size
        self._visits: OrderedDict[str, VisitState] = OrderedDict()

    def __len__(self) -> int:
        return len(self._visits)

    def get(self, session_id: str) -> VisitState | None:
        """The remembered visit itself, not a copy: the group changes it in place, so the
        writer forgets every visit of a group whose transaction fails."""
        visit = self._visits.get(session_id)
        if visit is not None:
            self._visits.move_to_end(session_id)
        return visit

    def keep(self, visits: Iterable[VisitState]) -> None:
        """Remember visits as committed (call it only after the commit); the cache owns
        them from then on."""
        for visit in visits:
            visit.columns, visit.dirty = None, False
            self._visits[visit.id] = visit
            self._visits.move_to_end(visit.id)
        while len(self._visits) > self.size:
            self._visits.popitem(last=False)

    def forget(self, session_ids: Iterable[str]) -> None:
        for session_id in session_ids:
            self._visits.pop(session_id, None)

    def clear(self) -> None:
        self._visits.clear()


@dataclass(slots=True)
class Added:
    """What events added to a visit: counts to add, the deepest scroll and the latest time
    to keep where larger. A visit's counts added but not yet written to its row are kept as
    these, in memory and in ``visit_counts``."""

    events: int
    page_views: int
    clicks: int
    max_scroll: int
    last_seen_at: datetime

    def merge(self, other: Added) -> None:
        self.events += other.events
        self.page_views += other.page_views
        self.clicks += other.clicks
        self.max_scroll = max(self.max_scroll, other.max_scroll)
        self.last_seen_at = max(self.last_seen_at, other.last_seen_at)

    def apply(self, visit: VisitState) -> None:
        """Add to the visit as its row holds it, and score it as of its last event."""
        visit.events += self.events
        visit.page_views += self.page_views
        visit.clicks += self.clicks
        visit.max_scroll = max(visit.max_scroll, self.max_scroll)
        visit.last_seen_at = max(visit.last_seen_at, self.last_seen_at)
        _score(visit, visit.last_seen_at)

    def undone(self) -> Added:
        """What takes these counts back out of a sum (for a visit whose row was written with
        them after all); the deepest scroll and the latest time are kept where larger, so
        adding them twice changes nothing."""
        return Added(
            -self.events, -self.page_views, -self.clicks, self.max_scroll, self.last_seen_at
        )


def counts_json(added: Iterable[tuple[str, Added]]) -> str:
    """The ``counts`` of a ``visit_counts`` row."""
    entries = [
        (
            session_id,
            counts.events,
            counts.page_views,
            counts.clicks,
            counts.max_scroll,
            event_time(counts.last_seen_at),
        )
        for session_id, counts in added
    ]
    return msgspec.json.encode(entries).decode()


def read_counts(texts: Iterable[str]) -> dict[str, Added]:
    """The sum, per visit, of the ``counts`` of ``visit_counts`` rows."""
    sums: dict[str, Added] = {}
    for text in texts:
        for session_id, events, page_views, clicks, max_scroll, seen in msgspec.json.decode(text):
            counts = Added(
                int(events),
                int(page_views),
                int(clicks),
                int(max_scroll),
                datetime.fromisoformat(seen).replace(tzinfo=UTC),
            )
            known = sums.get(session_id)
            if known is None:
                sums[session_id] = counts
            else:
                known.merge(counts)
    return sums


def fold_counts(store: TrackingStore, texts: Sequence[str]) -> list[VisitState]:
    """Add the ``visit_counts`` rows taken (``texts``) to their visits, inside the caller's
    transaction; returns the visits as they will be once it commits (visits deleted meanwhile
    are skipped)."""
    sums = read_counts(texts)
    visits = store.load_visits(sorted(sums))
    for session_id, visit in visits.items():
        sums[session_id].apply(visit)
    if visits:
        store.update_visits(sorted(visits.values(), key=lambda visit: visit.id))
        for visit in visits.values():
            visit.revision += 1
    return list(visits.values())


@dataclass(slots=True)
class GroupResult:
    """What a group did: each work's answer, the visits it read or wrote as they will be once
    it commits, what it added to visits without writing their rows (``deferred``), and the
    visits whose counts added before were written to their rows after all (``settled``)."""

    answers: list[VisitAnswer | LeadlineError]
    visits: list[VisitState]
    deferred: dict[str, Added]
    settled: set[str]


def apply_group(
    store: TrackingStore,
    works: Sequence[Work],
    now: datetime,
    remembered: VisitCache | None = None,
    *,
    pending: dict[str, Added] | None = None,
    defer: bool = False,
) -> GroupResult:
    """Apply the work of many requests, in the order they came, inside the caller's
    transaction: one insert for all their events, one write per visit (and a read of those
    not ``remembered``), and the daily rollups and visitor records those visits and events
    change. Each work gets its answer, or the error that is its alone (an unknown session,
    say). Raises GroupConflict (here or at the commit) when a remembered visit was changed
    elsewhere or an event was stored before: the caller then rolls back and applies the group
    again without ``remembered``.

    ``pending``: what this writer added to visits without writing their rows (its rows of
    ``visit_counts``); a visit read from the database gets them added, and a remembered one
    has them already. With ``defer`` (a store that ``defers``), a visit that only got events
    is not written: what they added goes to one ``visit_counts`` row instead. Without it, the
    group writes every pending visit too and deletes this writer's rows of ``visit_counts``
    (a fold)."""
    pending = pending or {}
    group = _Group(store, now, pending)
    session_ids = {work.session_id for work in works if work.session_id}
    if not defer:
        session_ids.update(pending)
    group.load(sorted(session_ids), remembered)
    rows: list[tuple[Any, ...]] = []
    for work in works:
        if isinstance(work, EventsWork) and group.own(work.site, work.session_id) is not None:
            rows.extend(work.rows)
    inserted = store.insert_events(rows, all_new=remembered is not None) if rows else None
    answers: list[VisitAnswer | LeadlineError] = []
    for work in works:
        try:
            if isinstance(work, StartWork):
                answers.append(group.start(work))
            elif isinstance(work, EventsWork):
                answers.append(group.events(work, inserted))
            else:
                answers.append(group.end(work))
        except LeadlineError as exc:
            answers.append(exc)
    deferred, settled = group.flush(defer)
    return GroupResult(answers, list(group.visits.values()), deferred, settled)


class _Group:
    def __init__(self, store: TrackingStore, now: datetime, pending: dict[str, Added]) -> None:
        self.store = store
        self.now = now
        self.pending = pending
        # What events added to each visit, and the visits written whatever the group defers
        # (a start or an end changed them).
        self.added: dict[str, Added] = {}
        self.settled: set[str] = set()
        self.day = now.astimezone(UTC).date()
        self.millis = _millis(now)
        self.visits: dict[str, VisitState] = {}
        self.new: list[VisitState] = []
        # The newest visit started in this group, per (site, visitor).
        self.started: dict[tuple[str, str], VisitState] = {}
        # Earlier visits and the latest start, per (site, visitor).
        self.history: dict[tuple[str, str], tuple[int, datetime | None]] = {}
        self.claimed: set[tuple[str, str]] = set()
        # (site, workspace, dimension, value) -> visits, visitors, page views, events.
        self.daily: dict[tuple[str, str, str, str], list[int]] = {}
        self.visitors: dict[tuple[str, str], VisitorTouch] = {}

    def load(self, session_ids: list[str], remembered: VisitCache | None) -> None:
        if remembered is not None:
            unknown = []
            for session_id in session_ids:
                visit = remembered.get(session_id)
                if visit is None:
                    unknown.append(session_id)
                else:
                    self.visits[session_id] = visit
            session_ids = unknown
        if session_ids:
            for session_id, visit in self.store.load_visits(session_ids).items():
                self._read(visit)
                self.visits[session_id] = visit

    def _read(self, visit: VisitState) -> None:
        """A visit just read from the database: add what this writer added but not wrote."""
        counts = self.pending.get(visit.id)
        if counts is not None:
            counts.apply(visit)

    def own(self, site: SiteInfo, session_id: str | None) -> VisitState | None:
        visit = self.visits.get(session_id) if session_id else None
        return visit if visit is not None and visit.site_id == site.site_id else None

    def _require(self, site: SiteInfo, session_id: str) -> VisitState:
        visit = self.own(site, session_id)
        if visit is None:
            raise NotFound(f"session {session_id} is not a session of this site")
        return visit

    # ---- the three kinds of work

    def start(self, work: StartWork) -> VisitAnswer:
        site_id = work.site.site_id
        current: VisitState | None = None
        if work.session_id:
            current = self.own(work.site, work.session_id)
        elif not work.identified:
            current = self._latest(site_id, work.visitor_id)
        if (
            current is not None
            and current.last_seen_at >= self.now - SESSION_IDLE
            and not work.clicked
        ):
            # The tracker ends the visit on every page it leaves: the next page resumes it.
            current.last_seen_at = self.now
            current.ended_at = None
            current.dirty = True
            self.settled.add(current.id)
            return VisitAnswer(current.id, current.visitor_id or work.visitor_id, self.millis, {})

        key = (site_id, work.visitor_id)
        earlier, last_start = self.history.get(key) or self.store.visitor_history(*key)
        self.history[key] = (earlier + 1, self.now)
        visit = VisitState(
            id=str(uuid.uuid4()),
            workspace_id=work.site.workspace_id,
            site_id=site_id,
            visitor_id=work.visitor_id,
            started_at=self.now,
            last_seen_at=self.now,
            ended_at=None,
            events=0,
            page_views=0,
            clicks=0,
            max_scroll=0,
            duration_ms=0,
            earlier_visits=earlier,
            bot_reason=work.columns.get("bot_reason"),
            columns=work.columns,
        )
        _score(visit, self.now)
        self.visits[visit.id] = visit
        self.started[key] = visit
        self.new.append(visit)
        if visit.bot_reason:
            self._count(visit, "bot", visit.bot_reason, sessions=1)
        else:
            first_today = last_start is None or last_start.astimezone(UTC).date() < self.day
            for dimension, value in (("total", ""), *work.dimensions):
                self._count(visit, dimension, value, sessions=1, visitors=int(first_today))
            self._touch(visit, work)
        return VisitAnswer(visit.id, work.visitor_id, self.millis, {})

    def events(self, work: EventsWork, inserted: set[tuple[str, str]] | None) -> VisitAnswer:
        """``inserted``: the (visit, event id) of the events stored now, or None when every
        event of the group was."""
        visit = self._require(work.site, work.session_id)
        summary = work.summary
        if inserted is not None:
            # Only events stored now count: a batch sent again changes nothing.
            fresh = []
            for index, row in enumerate(work.rows):
                key = (visit.id, row[3])
                if key in inserted and key not in self.claimed:
                    self.claimed.add(key)
                    fresh.append(index)
            summary = summarise(work.rows, work.depths, fresh)
        visit.events += summary.events
        visit.page_views += summary.page_views
        visit.clicks += summary.clicks
        if summary.max_scroll is not None:
            visit.max_scroll = max(visit.max_scroll, summary.max_scroll)
        if summary.events and not visit.bot_reason:
            self._count(visit, "total", "", page_views=summary.page_views, events=summary.events)
            for kind, count in summary.types.items():
                self._count(visit, "event", kind, events=count)
            for path, count in summary.pages.items():
                self._count(visit, "page", path, page_views=count)
        visit.last_seen_at = self.now
        visit.dirty = True  # scored once the group is done (flush)
        added = self.added.get(visit.id)
        if added is None:
            added = self.added[visit.id] = Added(0, 0, 0, 0, self.now)
        added.events += summary.events
        added.page_views += summary.page_views
        added.clicks += summary.clicks
        if summary.max_scroll is not None:
            added.max_scroll = max(added.max_scroll, summary.max_scroll)
        return VisitAnswer(
            visit.id, visit.visitor_id or "", self.millis, {"accepted": summary.events}
        )

    def end(self, work: EndWork) -> VisitAnswer:
        visit = self._require(work.site, work.session_id)
        if work.max_scroll is not None:
            visit.max_scroll = max(visit.max_scroll, work.max_scroll)
        if work.clicks is not None:
            visit.clicks = max(visit.clicks, work.clicks)
        if work.duration_ms is not None:
            visit.duration_ms = max(visit.duration_ms, work.duration_ms)
        visit.ended_at = self.now
        visit.last_seen_at = self.now
        visit.dirty = True
        self.settled.add(visit.id)
        _score(visit, self.now)
        return VisitAnswer(
            visit.id,
            visit.visitor_id or "",
            self.millis,
            {
                "engagement_score": visit.engagement_score,
                "engagement_label": visit.engagement_label,
            },
        )

    # ---- helpers

    def _latest(self, site_id: str, visitor_id: str) -> VisitState | None:
        """The visitor's newest visit seen within the idle time, if any."""
        started = self.started.get((site_id, visitor_id))
        if started is not None:
            return started if started.last_seen_at >= self.now - SESSION_IDLE else None
        found = self.store.latest_visit(site_id, visitor_id, self.now - SESSION_IDLE)
        if found is None:
            return None
        # One state per visit, whichever way it was found.
        known = self.visits.get(found.id)
        if known is not None:
            return known
        self._read(found)
        self.visits[found.id] = found
        return found

    def _count(
        self,
        visit: VisitState,
        dimension: str,
        value: str,
        *,
        sessions: int = 0,
        visitors: int = 0,
        page_views: int = 0,
        events: int = 0,
    ) -> None:
        key = (visit.site_id, visit.workspace_id, dimension, value)
        counts = self.daily.setdefault(key, [0, 0, 0, 0])
        counts[0] += sessions
        counts[1] += visitors
        counts[2] += page_views
        counts[3] += events

    def _touch(self, visit: VisitState, work: StartWork) -> None:
        key = (visit.site_id, work.visitor_id)
        record = self.visitors.get(key)
        if record is None:
            record = self.visitors[key] = VisitorTouch(
                site_id=visit.site_id,
                visitor_id=work.visitor_id,
                workspace_id=visit.workspace_id,
                identified=work.identified,
                first_seen_at=self.now,
                last_seen_at=self.now,
                visits=0,
            )
        record.visits += 1
        record.last_seen_at = self.now
        if work.touch is not None:
            if record.first_touch is None:
                record.first_touch, record.first_touch_at = work.touch, self.now
            record.last_touch, record.last_touch_at = work.touch, self.now

    def flush(self, defer: bool) -> tuple[dict[str, Added], set[str]]:
        """Write what the group changed; returns what it deferred and the pending visits it
        wrote (see apply_group)."""
        deferred: dict[str, Added] = {}
        if defer:
            deferred = {
                session_id: added
                for session_id, added in self.added.items()
                # A visit started now is inserted with its counts.
                if session_id not in self.settled and self.visits[session_id].columns is None
            }
        else:
            # A fold: the pending visits are written with the rest (their state, read or
            # remembered, holds what is pending).
            for session_id in self.pending:
                folded = self.visits.get(session_id)
                if folded is not None:
                    folded.dirty = True
        # A visit is scored when its row is written, as of its latest event (the time of the
        # group that brought it): a deferred one when it is written later, to the same score.
        for visit in self.visits.values():
            if visit.dirty and visit.id not in deferred:
                _score(visit, visit.last_seen_at)
        if self.new:
            self.store.insert_visits(self.new)
        changed = [
            visit
            for visit in self.visits.values()
            if visit.dirty and visit.columns is None and visit.id not in deferred
        ]
        settled = {visit.id for visit in changed if visit.id in self.pending}
        if defer and (deferred or set(self.pending) - settled):
            # A pending visit written now holds its pending counts: the row takes them back.
            entries = [*deferred.items()]
            entries.extend((done, self.pending[done].undone()) for done in settled)
            if entries:
                self.store.add_counts(counts_json(entries))
        elif self.pending:
            # Every pending visit is written now (a fold, or a group that wrote them all).
            self.store.drop_counts()
        if changed:
            changed.sort(key=lambda visit: visit.id)
            self.store.update_visits(changed)
            for visit in changed:
                visit.revision += 1
        if self.daily:
            self.store.add_daily(
                [
                    DailyCount(site_id, workspace_id, self.day, dimension, value, *counts)
                    for (site_id, workspace_id, dimension, value), counts in sorted(
                        self.daily.items()
                    )
                ]
            )
        if self.visitors:
            self.store.upsert_visitors([self.visitors[key] for key in sorted(self.visitors)])
        return deferred, settled


def _score(visit: VisitState, now: datetime) -> None:
    elapsed = int((now - visit.started_at).total_seconds() * 1000)
    visit.duration_ms = max(visit.duration_ms, elapsed)
    visit.engagement_score, visit.engagement_label = engagement(
        visit.duration_ms, visit.max_scroll, visit.clicks, visit.earlier_visits
    )
