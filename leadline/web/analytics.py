"""The Analytics page: overview cards, visits per day, sources, top pages, countries,
engagement, realtime and anomalies, drawn from the same analytics services the
``/analytics/*`` report routes call.

The question (which site, which days, which zone) is read from the address, so a view can be
bookmarked and shared: ``site`` (a site's id; every site of the workspace without it),
``range`` (``7``, ``30``, ``90`` days up to today, or ``custom``), ``from`` and ``to`` (dates,
both included, read when the range is custom) and ``tz`` (an IANA zone; UTC by default).

The page itself answers at once with the form and a placeholder per section; htmx then
asks each section's fragment (``/analytics/sections/<section>`` with the same parameters),
so the sections fill in one by one. ``full=1`` renders every section in the page, for a
browser without JavaScript (the page links to it in a ``<noscript>``).

A section is shown only when its analytics page (``leadline.auth.pages``) is among the
person's pages; its fragment, and the realtime fragment the page polls, are refused (403)
otherwise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any
from urllib.parse import urlencode

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from leadline.accounts.service import SignedIn
from leadline.analytics import anomalies_service as anomalies
from leadline.analytics import traffic
from leadline.analytics.anomalies import KINDS
from leadline.analytics.query import ReportQuery
from leadline.errors import Forbidden, NotFound, ValidationFailed
from leadline.kit.periods import Period, parse_period
from leadline.kit.time import utcnow
from leadline.sites import service as sites
from leadline.sites.service import ManagedSite
from leadline.web import access
from leadline.web.access import page
from leadline.web.rendering import render

# The page's sections in the order shown, each named by the analytics page that opens it.
SECTIONS: tuple[str, ...] = (
    "overview",
    "sessions",
    "sources",
    "pages",
    "geo",
    "engagement",
    "realtime",
    "anomalies",
)
PRESETS: tuple[str, ...] = ("7", "30", "90")
DEFAULT_RANGE = "30"
CUSTOM = "custom"
# What a site id looks like (leadline.kit.ids): anything else is not a site id at all.
_SITE_ID = re.compile(r"site_[0-9a-hjkmnp-tv-z]{26}")


def sections_for(pages: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The sections a person whose analytics pages are ``pages`` sees, in page order."""
    return tuple(section for section in SECTIONS if section in pages)


def require_section(pages: tuple[str, ...] | list[str], section: str) -> None:
    """Forbidden unless a person whose analytics pages are ``pages`` sees ``section``."""
    if section not in sections_for(pages):
        raise Forbidden(f"your analytics pages do not include {section}")


@dataclass(frozen=True, slots=True)
class Choice:
    """What the address asks for: a site id (None: every site), the range and the period."""

    site: str | None
    range: str
    period: Period


def _text(params: QueryParams, name: str) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    if "\x00" in value or len(value) > 100:
        raise ValidationFailed(f"{name} is not a valid value", details={"parameter": name})
    return value.strip() or None


def parse_site(raw: str | None) -> str | None:
    """The ``site`` parameter: None for every site, else a site id (ValidationFailed when it
    is not one: whose site it is, is the service's to say)."""
    if raw is None:
        return None
    if not _SITE_ID.fullmatch(raw):
        raise ValidationFailed(f"unknown site '{raw}'", details={"parameter": "site"})
    return raw


def parse_choice(params: QueryParams, today: date | None = None) -> Choice:
    """The question of the address; ValidationFailed names the parameter at fault."""
    site = parse_site(_text(params, "site"))
    first, last, tz = _text(params, "from"), _text(params, "to"), _text(params, "tz")
    chosen = _text(params, "range")
    if chosen is None:
        chosen = CUSTOM if first or last else DEFAULT_RANGE
    if chosen in PRESETS:
        period = parse_period(None, None, tz, today=today, default_days=int(chosen))
    elif chosen == CUSTOM:
        period = parse_period(first, last, tz, today=today, default_days=int(DEFAULT_RANGE))
    else:
        raise ValidationFailed(
            f"range must be 7, 30, 90 or custom, not '{chosen}'", details={"parameter": "range"}
        )
    return Choice(site, chosen, period)


async def report_query(session: AsyncSession, who: SignedIn, choice: Choice) -> ReportQuery:
    """The report question for this person: the chosen site of their workspace (NotFound
    for any other) or every site the workspace has had, as the report routes ask it."""
    workspace_id = who.workspace.id
    if choice.site is not None:
        site_ids: tuple[str, ...] = (
            (await sites.managed_site(session, workspace_id, choice.site)).site.id,
        )
    else:
        site_ids = tuple(await sites.site_ids_of(session, workspace_id))
    return ReportQuery(
        workspace_id=workspace_id,
        site_ids=site_ids,
        period=choice.period,
        now=utcnow(),
        role=who.person.role,
        pages=access.pages_of(who),
        masked=access.masked(who),
    )


# ------------------------------------------------------------------------------ figures


@dataclass(frozen=True, slots=True)
class Card:
    """One overview number with its change against the previous period, as words."""

    key: str
    label: str
    value: str
    previous: str
    change: str
    direction: str  # up, down or flat


def _number(value: float, unit: str) -> str:
    if unit == "%":
        return f"{value:.1f}%"
    if unit == "score":
        return f"{value:.1f}"
    return f"{int(value):,}"


def card(key: str, label: str, metric: traffic.Metric, unit: str = "") -> Card:
    """A card for ``metric``: a count changes by a percentage, a rate by points."""
    value, previous = metric.value, metric.previous
    difference = value - previous
    direction = "up" if difference > 0 else "down" if difference < 0 else "flat"
    if difference == 0:
        change = "no change"
    elif unit == "%":
        change = f"{difference:+.1f} points"
    elif unit == "score":
        change = f"{difference:+.1f}"
    elif previous == 0:
        change = "new"
    else:
        change = f"{100 * difference / previous:+.0f}%"
    return Card(key, label, _number(value, unit), _number(previous, unit), change, direction)


def cards(overview: traffic.Overview) -> list[Card]:
    return [
        card("visits", "Visits", overview.visits),
        card("visitors", "Visitors", overview.visitors),
        card("events", "Events", overview.events),
        card("leads", "Leads", overview.leads),
        card("bounce_rate", "Bounce rate", overview.bounce_rate, "%"),
        card("average_engagement", "Average engagement", overview.average_engagement, "score"),
    ]


def _epoch(day: str) -> int:
    """Seconds since 1970 at the UTC midnight of ``day``: the chart's x values (drawn in
    UTC, so the axis names the same day as the table)."""
    return int(datetime.combine(date.fromisoformat(day), time.min, tzinfo=UTC).timestamp())


def daily_chart(daily: traffic.DailyVisits) -> dict[str, Any]:
    """The series of the visits-per-day chart, for charts.js."""
    return {
        "kind": "days",
        "x": [_epoch(day.date) for day in daily.days],
        "series": [
            {"label": "Visits", "values": [day.visits.value for day in daily.days]},
            {"label": "Visitors", "values": [day.visitors.value for day in daily.days]},
            {
                "label": "Visits, previous period",
                "values": [day.visits.previous for day in daily.days],
                "dashed": True,
            },
        ],
    }


def engagement_chart(engagement: traffic.Engagement) -> dict[str, Any]:
    return {
        "kind": "bars",
        "x": list(range(len(engagement.buckets))),
        "labels": [f"{bucket.low}-{bucket.high}" for bucket in engagement.buckets],
        "series": [
            {"label": "Visits", "values": [bucket.visits.value for bucket in engagement.buckets]}
        ],
    }


def realtime_chart(realtime: traffic.Realtime) -> dict[str, Any]:
    return {
        "kind": "bars",
        "x": list(range(len(realtime.minutes))),
        "labels": [minute.minute[11:16] for minute in realtime.minutes],
        "series": [{"label": "Events", "values": [minute.events for minute in realtime.minutes]}],
    }


TITLES: dict[str, str] = {
    "overview": "Overview",
    "sessions": "Visits per day",
    "sources": "Sources",
    "pages": "Top pages",
    "geo": "Countries",
    "engagement": "Engagement",
    "realtime": "Right now",
    "anomalies": "Anomalies",
}


def has_data(section: str, data: dict[str, Any]) -> bool | None:
    """Whether anything was tracked in the period, as far as ``section`` tells (None when
    it does not tell)."""
    if section == "overview":
        overview: traffic.Overview = data["overview"]
        return bool(overview.visits.value or overview.events.value)
    if section == "sessions":
        daily: traffic.DailyVisits = data["daily"]
        return any(day.visits.value or day.events.value for day in daily.days)
    return None


async def section_data(
    session: AsyncSession,
    query: ReportQuery,
    section: str,
    site: str | None,
    sections: tuple[str, ...],
) -> dict[str, Any]:
    """What ``section`` shows, from the analytics services (``site``: the site chosen, or
    None for every site; ``sections``: every section the person sees, for the one that says
    when the range holds no data)."""
    limit = traffic.DEFAULT_LIMIT
    data: dict[str, Any] = {"section": section, "title": TITLES[section]}
    if section == "overview":
        data["overview"] = await traffic.overview(session, query, site)
        data["cards"] = cards(data["overview"])
    elif section == "sessions":
        data["daily"] = await traffic.daily(session, query, site)
        data["chart"] = daily_chart(data["daily"])
    elif section == "sources":
        data["sources"] = await traffic.sources(session, query, limit, site)
    elif section == "pages":
        data["pages"] = await traffic.top_pages(session, query, limit, site)
    elif section == "geo":
        data["geo"] = await traffic.geo(session, query, limit, site)
    elif section == "engagement":
        data["engagement"] = await traffic.engagement(session, query, site)
        data["chart"] = engagement_chart(data["engagement"])
    elif section == "realtime":
        data["realtime"] = await traffic.realtime(session, query, site)
        data["chart"] = realtime_chart(data["realtime"])
    elif section == "anomalies":
        found = await anomalies.anomalies_report(session, query, None)
        data["anomalies"] = found["anomalies"]
    # The section that tells whether the range holds anything says so for the page: the
    # overview, or the daily visits for someone who does not see the overview.
    teller = "overview" if "overview" in sections else "sessions"
    data["empty"] = has_data(section, data) is False
    data["says_empty"] = section == teller and data["empty"]
    return data


def site_label(managed: ManagedSite) -> str:
    domains = [row.domain for row in managed.domains]
    if domains and managed.site.name != domains[0]:
        return f"{managed.site.name} ({domains[0]})"
    return managed.site.name


# ------------------------------------------------------------------------------ pages


def form_values(params: QueryParams, choice: Choice | None) -> dict[str, str]:
    """What the form's fields hold: the choice made, or what was sent when it was refused."""
    if choice is None:
        return {
            name: (params.get(name) or "")[:100] for name in ("site", "range", "from", "to", "tz")
        }
    return {
        "site": choice.site or "",
        "range": choice.range,
        "from": choice.period.first.isoformat(),
        "to": choice.period.last.isoformat(),
        "tz": choice.period.tz.key,
    }


def address(choice: Choice) -> str:
    """The query string that asks ``choice`` again: what a section's fragment is given."""
    params: dict[str, str] = {}
    if choice.site:
        params["site"] = choice.site
    params["range"] = choice.range
    if choice.range == CUSTOM:
        params["from"] = choice.period.first.isoformat()
        params["to"] = choice.period.last.isoformat()
    params["tz"] = choice.period.tz.key
    return urlencode(params)


def _full(params: QueryParams) -> bool:
    """Whether the address asks for every section in the page itself (``full=1``), as a
    browser without JavaScript needs."""
    return params.get("full") in ("1", "true", "yes")


def _context(
    request: Request,
    managed: list[ManagedSite],
    choice: Choice | None,
    error: ValidationFailed | None = None,
) -> dict[str, Any]:
    labels = {item.site.id: site_label(item) for item in managed}
    return {
        "sites": labels,
        "choice": choice,
        "form": form_values(request.query_params, choice),
        "presets": PRESETS,
        "origin": f"{request.url.scheme}://{request.url.netloc}",
        "kinds": KINDS,
        "titles": TITLES,
        "error": error.message if error else "",
        "error_field": str(error.details.get("parameter", "")) if error else "",
        "sections": (),
        "loaded": [],
        "full": False,
        "address": "",
    }


@page
async def analytics_page(request: Request, session: AsyncSession, who: SignedIn) -> Response:
    """The analytics of the chosen site and days: the form and a placeholder per section,
    each filled in by htmx from its fragment; with ``full=1`` every section in the page."""
    access.require_area(who, "analytics")
    managed = await sites.sites_of(session, who.workspace.id)
    try:
        choice = parse_choice(request.query_params)
    except ValidationFailed as exc:
        # The page again, with the form as sent and what is wrong with it.
        context = _context(request, managed, None, exc)
        return render(request, "analytics/page.html", context, status_code=400)
    context = _context(request, managed, choice)
    if not managed:
        return render(request, "analytics/page.html", context)
    shown = sections_for(access.pages_of(who))
    # The site is checked here (NotFound for another workspace's) before any section asks.
    query = await report_query(session, who, choice)
    full = _full(request.query_params)
    loaded = []
    if full:
        for section in shown:
            loaded.append(await section_data(session, query, section, choice.site, shown))
    return render(
        request,
        "analytics/page.html",
        {**context, "sections": shown, "loaded": loaded, "full": full, "address": address(choice)},
    )


@page
async def section_fragment(request: Request, session: AsyncSession, who: SignedIn) -> Response:
    """One section of the page alone, for the question of the page's address (the same
    parameters, refused the same way)."""
    access.require_area(who, "analytics")
    section = request.path_params["section"]
    if section not in SECTIONS:
        raise NotFound(f"the analytics page has no section '{section[:40]}'")
    shown = sections_for(access.pages_of(who))
    require_section(shown, section)
    choice = parse_choice(request.query_params)
    query = await report_query(session, who, choice)
    data = await section_data(session, query, section, choice.site, shown)
    labels: dict[str, str] = {}
    if section == "anomalies":
        labels = {
            item.site.id: site_label(item)
            for item in await sites.sites_of(session, who.workspace.id)
        }
    return render(
        request,
        f"analytics/sections/{section}.html",
        {"data": data, "choice": choice, "sites": labels, "kinds": KINDS},
    )


@page
async def realtime_fragment(request: Request, session: AsyncSession, who: SignedIn) -> Response:
    """The realtime section alone, which the page polls."""
    access.require_area(who, "analytics")
    require_section(access.pages_of(who), "realtime")
    site = parse_site(_text(request.query_params, "site"))
    choice = Choice(site, DEFAULT_RANGE, parse_period(None, None, None))
    query = await report_query(session, who, choice)
    realtime = await traffic.realtime(session, query, site)
    return render(
        request,
        "analytics/_realtime.html",
        {"realtime": realtime, "realtime_chart": realtime_chart(realtime), "choice": choice},
    )


ROUTES: list[BaseRoute] = [
    Route("/analytics", analytics_page, methods=["GET"]),
    Route("/analytics/realtime", realtime_fragment, methods=["GET"]),
    Route("/analytics/sections/{section}", section_fragment, methods=["GET"]),
]
