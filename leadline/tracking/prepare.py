"""What a tracking request hands the writer: it checks and prepares its work on its own
(origin, consent, visitor identity, validation, attribution), then the writer applies the work
of many requests in one transaction (``tracking.groups.apply_group``)."""

from __future__ import annotations

import itertools
import os
import random
import re
import time
import uuid
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from leadline.errors import Forbidden, ValidationFailed
from leadline.kit.jsondepth import check_json_depth
from leadline.kit.urls import parse_url
from leadline.sites.service import SiteInfo, host_allowed
from leadline.tracking.attribution import (
    channel_of,
    has_click,
    landing_attribution,
    rollup_dimensions,
    touch_of,
)
from leadline.tracking.enrich import UserAgents, describe
from leadline.tracking.identity import (
    VISITOR_ID,
    consent_flags,
    consent_update,
    cookieless_visitor,
    fingerprint_ids,
)
from leadline.tracking.schemas import EventIn, VisitEnd, VisitStart
from leadline.tracking.store import EventRow

# The largest ``data`` one event may carry, as JSON.
MAX_EVENT_DATA_BYTES = 16_384
# An exponent of three digits or more: only such a number can be out of a double's range
# (1e400). The data is kept as it came, unparsed, so only data holding one is parsed to see.
_BIG_EXPONENT = re.compile(rb"[0-9][eE][+-]?[0-9]{3}")


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
    visit_id: str
    visitor_id: str
    timestamp: int
    extra: dict[str, Any]


def check_origin(site: SiteInfo, client: Client) -> None:
    if client.origin_host is None or not host_allowed(client.origin_host, site.domains):
        raise Forbidden(
            f"origin {client.origin_host or '(none)'} is not one of this site's domains"
        )


@dataclass(slots=True)
class StartWork:
    """Resume the browser's visit (``visit_id``, or for a cookieless visitor the latest one
    within 30 minutes), or start a visit with ``columns``."""

    site: SiteInfo
    visit_id: str | None
    visitor_id: str
    identified: bool
    clicked: bool
    columns: dict[str, Any]
    # Rollup dimensions the visit counts under, and its touch (attribution JSON) if any.
    dimensions: dict[str, str]
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


# The event the tracker sends when the visitor's consent changes (docs/tracker.md).
CONSENT_EVENT = "consent_update"


@dataclass(slots=True)
class ConsentReport:
    """A change of consent a ``consent_update`` event reports: the event's row (whose id says
    whether it was stored now or before), the flags it sets and where it came from."""

    row: EventRow
    flags: dict[str, bool]
    source: str


@dataclass(slots=True)
class EventsWork:
    """Events of one visit: the rows to insert, their summary, the scroll depth of each scroll
    event by row, the rows the writer is to give an id of its own (``ServerIds``), and the
    changes of consent the ``consent_update`` events among them report (usually none)."""

    site: SiteInfo
    visit_id: str
    rows: list[EventRow]
    summary: EventSummary
    depths: dict[int, int]
    unnamed: list[EventRow]
    consents: list[ConsentReport] = field(default_factory=list)

    @property
    def size(self) -> int:
        return len(self.rows)

    def name_events(self, new_id: Callable[[], str]) -> None:
        for row in self.unnamed:
            row.client_id = new_id()
        self.unnamed = []


def summarise(
    rows: Sequence[EventRow], depths: dict[int, int], indexes: Sequence[int]
) -> EventSummary:
    """The summary of the events at ``indexes`` of ``rows``."""
    types: dict[str, int] = {}
    pages: dict[str, int] = {}
    clicks = 0
    for index in indexes:
        row = rows[index]
        kind = row.type
        types[kind] = types.get(kind, 0) + 1
        if kind == "page_view":
            path = page_path(row.url)
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
    visit_id: str
    duration_ms: int | None
    max_scroll: int | None
    clicks: int | None

    @property
    def size(self) -> int:
        return 1


Work = StartWork | EventsWork | EndWork


def prepare_start(
    site: SiteInfo,
    start: VisitStart,
    client: Client,
    secret: str,
    now: datetime,
    agents: UserAgents | None = None,
) -> StartWork:
    """The work of a visit's start. ``agents`` describes the user agent (the app's keeps each
    one it parsed); without it the user agent is parsed now."""
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
        visitor_id = given if VISITOR_ID.match(given) else f"v_{uuid.uuid4().hex}"
        if site.site.fingerprinting and start.fingerprintId:
            visitor_id, device_id = fingerprint_ids(
                site.site_id, start.fingerprintId, client.user_agent
            )
        identified = True
    else:
        day = now.astimezone(UTC).date().isoformat()
        visitor_id = cookieless_visitor(secret, site.site_id, client.ip, client.user_agent, day)
        identified = False
    agent = (agents.describe if agents is not None else describe)(client.user_agent)
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
        visit_id=start.sessionId,
        visitor_id=visitor_id,
        identified=identified,
        clicked=clicked,
        columns=columns,
        dimensions=rollup_dimensions(columns, start.referrer, site.domains),
        touch=touch_of(columns, channel, now),
    )


def prepare_events(
    site: SiteInfo, visit_id: str, events: list[EventIn], client: Client, now: datetime
) -> EventsWork:
    check_origin(site, client)
    workspace_id, site_id = site.workspace_id, site.site_id
    rows: list[EventRow] = []
    depths: dict[int, int] = {}
    unnamed: list[EventRow] = []
    consents: list[ConsentReport] = []
    for index, event in enumerate(events):
        data = bytes(event.data)
        if len(data) > MAX_EVENT_DATA_BYTES:
            raise ValidationFailed(
                f"the data of a {event.type} event is {len(data)} bytes; at most "
                f"{MAX_EVENT_DATA_BYTES} are accepted"
            )
        if data[:1] != b"{":
            raise ValidationFailed(f"the data of a {event.type} event must be a JSON object")
        check_json_depth(data, f"the data of a {event.type} event")
        try:
            text = data.decode()
        except UnicodeDecodeError:
            raise ValidationFailed(f"the data of a {event.type} event is not UTF-8") from None
        if _BIG_EXPONENT.search(data):
            _check_numbers(data, event.type)
        if event.type == "scroll":
            depth = _scroll_depth(data)
            if depth is not None:
                depths[index] = depth
        row = EventRow(
            workspace_id=workspace_id,
            site_id=site_id,
            visit_id=visit_id,
            client_id=event.id or "",
            type=event.type,
            occurred_at=now if event.ts is None else _occurred(event.ts, now),
            received_at=now,
            url=event.url,
            data=text,
        )
        rows.append(row)
        if not event.id:
            unnamed.append(row)
        if event.type == CONSENT_EVENT:
            reported = consent_update(data)
            if reported is not None:
                consents.append(ConsentReport(row, *reported))
    summary = summarise(rows, depths, range(len(rows)))
    return EventsWork(site, visit_id, rows, summary, depths, unnamed, consents)


def _check_numbers(data: bytes, kind: str) -> None:
    """ValidationFailed when the data holds a number no database column or JSON type keeps."""
    try:
        msgspec.json.decode(data)
    except msgspec.DecodeError as exc:
        raise ValidationFailed(f"the data of a {kind} event cannot be kept: {exc}") from None


def _scroll_depth(data: bytes) -> int | None:
    raw = msgspec.json.decode(data).get("depth")
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return min(100, max(0, int(raw)))
    return None


class ServerIds:
    """Ids for the events a browser sends without one (the writer holds one and names each
    request's events as it queues them): a counter that starts at the time it was made (in
    microseconds, 13 hex digits until the next century) and 32 random bits drawn then. They
    increase within a process, so a visit's new events go to the end of the events index; two
    processes (forked ones included) share an id only if they drew the same 32 bits and their
    counters meet, and none costs a system call."""

    def __init__(self) -> None:
        self.reset()
        # A forked process draws again; the hook holds no reference that would keep a writer
        # that is done with alive.
        own = weakref.ref(self)

        def redraw() -> None:
            ids = own()
            if ids is not None:
                ids.reset()

        os.register_at_fork(after_in_child=redraw)

    def reset(self) -> None:
        self.counter = itertools.count(time.time_ns() // 1000)
        self.tag = f"{random.getrandbits(32):08x}"

    def __call__(self) -> str:
        return hex(next(self.counter))[2:] + self.tag


def prepare_end(site: SiteInfo, end: VisitEnd, client: Client) -> EndWork:
    check_origin(site, client)
    return EndWork(site, end.sessionId, end.durationMs, end.maxScroll, end.clicks)


def _occurred(ts: int, now: datetime) -> datetime:
    moment = datetime.fromtimestamp(ts / 1000, tz=UTC)
    # A browser clock far off is not trusted.
    return moment if abs(moment - now) <= timedelta(days=1) else now


def page_path(url: str | None) -> str:
    if not url:
        return "/"
    parts = parse_url(url)
    if parts is None:
        raise ValidationFailed(f"a page view's url does not parse as a URL: {url[:200]!r}")
    return (parts.path or "/")[:512]
