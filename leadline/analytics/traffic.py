"""The traffic reports: overview, visits by day, top pages, countries, engagement, sources,
the last minutes and storage.

Counts of visits, page views and events, and the visits per engagement score and the bounces
as the visits' rows stand, come from the tracking writer's rollups (whole UTC days and the
hours at either edge of the zone's days, one read per report); unique visitors from the kept
visitor days (exact per day, merged from HyperLogLog sketches over several, ADR 0011; with
ClickHouse the days are kept from its visit starts, and a day still going on is counted
there, ADR 0014); leads from the forms feature. Every number a report shows is a
:class:`Metric`: its value and the previous period's (as many days, ending the day before
``from``). Realtime compares with the minutes before; storage is a snapshot and compares
with nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from leadline.analytics.query import ReportQuery
from leadline.clickhouse.client import ClickHouse
from leadline.errors import ValidationFailed
from leadline.forms import service as forms
from leadline.kit.periods import Period, local_midnight
from leadline.kit.time import iso_millis
from leadline.tracking import clickhouse_repository as clickhouse_counts
from leadline.tracking import rollups
from leadline.tracking.engagement import LABELS, label_of
from leadline.tracking.rollups import Counts

# How many rows a ranked list (pages, countries, sources) has by default, and at most.
DEFAULT_LIMIT = 10
MAX_LIMIT = 100
# Realtime: a visit seen this recently is active; events are shown a minute at a time for
# this long.
ACTIVE_FOR = timedelta(minutes=5)
EVENTS_FOR = timedelta(minutes=30)


class Metric(msgspec.Struct):
    """A number and the previous period's."""

    value: int | float
    previous: int | float


class PeriodInfo(msgspec.Struct):
    from_: str = msgspec.field(name="from")
    to: str
    tz: str
    previous_from: str
    previous_to: str


class Overview(msgspec.Struct, omit_defaults=True):
    role: str
    site: str | None
    period: PeriodInfo
    visits: Metric
    visitors: Metric
    page_views: Metric
    events: Metric
    leads: Metric
    submissions: Metric
    bounce_rate: Metric
    average_engagement: Metric
    marketing_visible_pages: list[str] | None = None


class Day(msgspec.Struct):
    date: str
    previous_date: str
    visits: Metric
    visitors: Metric
    page_views: Metric
    events: Metric


class DailyVisits(msgspec.Struct):
    site: str | None
    period: PeriodInfo
    days: list[Day]


class Ranked(msgspec.Struct):
    """One row of a ranked list of visits: its name (a country code, a domain, a channel...)
    and its visits. ``name`` is None for the visits that carry none (no country known)."""

    name: str | None
    visits: Metric


class Page(msgspec.Struct):
    path: str
    page_views: Metric


class TopPages(msgspec.Struct):
    site: str | None
    period: PeriodInfo
    pages: list[Page]


class Geo(msgspec.Struct):
    site: str | None
    period: PeriodInfo
    countries: list[Ranked]


class Bucket(msgspec.Struct):
    low: int = msgspec.field(name="from")
    high: int = msgspec.field(name="to")
    visits: Metric


class Label(msgspec.Struct):
    label: str
    low: int = msgspec.field(name="from")
    high: int = msgspec.field(name="to")
    visits: Metric


class Engagement(msgspec.Struct):
    site: str | None
    period: PeriodInfo
    visits: Metric
    average: Metric
    buckets: list[Bucket]
    labels: list[Label]


class Sources(msgspec.Struct):
    site: str | None
    period: PeriodInfo
    referrers: list[Ranked]
    channels: list[Ranked]
    sources: list[Ranked]
    platforms: list[Ranked]


class Minute(msgspec.Struct):
    minute: str
    events: int


class Realtime(msgspec.Struct):
    site: str | None
    now: str
    active_visits: Metric
    events: Metric
    minutes: list[Minute]


class TableFigures(msgspec.Struct):
    table: str
    rows: int
    bytes: int | None


class Retention(msgspec.Struct):
    events_days: int
    visits_days: None
    rollups_days: None


class Storage(msgspec.Struct):
    site: str | None
    tables: list[TableFigures]
    bytes_measured_by: str
    database_bytes: int | None
    oldest_event: str | None
    oldest_visit: str | None
    retention: Retention


# ---------------------------------------------------------------------------- helpers


def parse_limit(raw: str | None) -> int:
    """The ``limit`` parameter of a ranked list: 1 to MAX_LIMIT."""
    if raw is None:
        return DEFAULT_LIMIT
    limit = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 4 else 0
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationFailed(
            f"limit must be a whole number from 1 to {MAX_LIMIT}, not '{raw}'",
            details={"parameter": "limit"},
        )
    return limit


def _site(query: ReportQuery, site_param: str | None) -> str | None:
    """The id of the site the caller named (``site_param``, by id or key), else None."""
    named = bool(site_param and site_param.strip())
    return query.site_ids[0] if named and len(query.site_ids) == 1 else None


def period_info(period: Period) -> PeriodInfo:
    previous = period.previous
    return PeriodInfo(
        from_=period.first.isoformat(),
        to=period.last.isoformat(),
        tz=period.tz.key,
        previous_from=previous.first.isoformat(),
        previous_to=previous.last.isoformat(),
    )


def _rate(part: int, whole: int) -> float:
    return round(100 * part / whole, 1) if whole else 0.0


def _top(now: dict[str, int], before: dict[str, int], limit: int) -> list[tuple[str, Metric]]:
    """The ``limit`` largest of ``now`` (ties by name), each with its previous count."""
    names = sorted((name for name, value in now.items() if value), key=lambda n: (-now[n], n))
    return [(name, Metric(now[name], before.get(name, 0))) for name in names[:limit]]


def _ranked(
    now: dict[str, int], before: dict[str, int], limit: int, unnamed: tuple[int, int] = (0, 0)
) -> list[Ranked]:
    """The top visits by name; the visits without a name last, when there are any."""
    rows = [Ranked(name, metric) for name, metric in _top(now, before, limit)]
    if unnamed[0] or unnamed[1]:
        rows.append(Ranked(None, Metric(*unnamed)))
    return rows


Found = dict[str, dict[str, Counts]]


async def _tops(
    session: AsyncSession, query: ReportQuery, dimensions: tuple[str, ...], field: str, limit: int
) -> dict[str, list[tuple[str, Metric]]]:
    """What ``_top`` makes of the rollups' counts of ``dimensions``, the database summing,
    ranking and cutting the period's (by the same rule: the largest first, ties by name,
    none of zero) and reading the previous period's of the names it kept only."""
    period, previous = query.period, query.period.previous
    ws, sites = query.workspace_id, query.site_ids
    top = await rollups.top_values(
        session, ws, sites, dimensions, field, period.start, period.end, limit
    )
    wanted = {dimension: [name for name, _ in top[dimension].values] for dimension in dimensions}
    found_b = await rollups.counts_of_values(
        session, ws, sites, wanted, field, previous.start, previous.end
    )
    lists = {}
    for dimension in dimensions:
        before = dict(found_b[dimension].values)
        lists[dimension] = [
            (name, Metric(count, before.get(name, 0))) for name, count in top[dimension].values
        ]
    return lists


# What follows a visit's changing row: read from the SQL database's rollups even when
# ClickHouse keeps the events (ADR 0014).
_VISIT_ROW_DIMENSIONS = (rollups.SCORE, rollups.SCORE_SUM, rollups.BOUNCE)


async def _both(
    session: AsyncSession,
    query: ReportQuery,
    dimensions: tuple[str, ...],
    clickhouse: ClickHouse | None = None,
) -> tuple[Found, Found]:
    """The rollups' counts of ``dimensions`` in the period and the one before, per value,
    in one read; with ``clickhouse``, those of visits and events from its raw rows."""
    ranges = [
        (query.period.start, query.period.end),
        (query.period.previous.start, query.period.previous.end),
    ]
    ws, sites = query.workspace_id, query.site_ids
    if clickhouse is None:
        now, before = await rollups.counts_by_values(session, ws, sites, dimensions, ranges)
        return now, before
    in_sql = tuple(d for d in dimensions if d in _VISIT_ROW_DIMENSIONS)
    elsewhere = tuple(d for d in dimensions if d not in _VISIT_ROW_DIMENSIONS)
    found: list[Found] = [{}, {}]
    if in_sql:
        for part, counted in zip(
            found, await rollups.counts_by_values(session, ws, sites, in_sql, ranges), strict=True
        ):
            part.update(counted)
    if elsewhere:
        for part, counted in zip(
            found,
            await clickhouse_counts.counts_by_values(clickhouse, ws, sites, elsewhere, ranges),
            strict=True,
        ):
            part.update(counted)
    return found[0], found[1]


def _field(found: dict[str, Counts], field: str) -> dict[str, int]:
    return {value: getattr(counts, field) for value, counts in found.items()}


# ---------------------------------------------------------------------------- reports


async def overview(
    session: AsyncSession,
    query: ReportQuery,
    site_param: str | None = None,
    clickhouse: ClickHouse | None = None,
) -> Overview:
    period, previous = query.period, query.period.previous
    ws, sites = query.workspace_id, query.site_ids
    found = await _both(
        session, query, ("total", rollups.SCORE, rollups.SCORE_SUM, rollups.BOUNCE), clickhouse
    )
    if clickhouse is not None:
        visitors, visitors_b = await _visitors_with_clickhouse(session, query, clickhouse)
    else:
        visitors, visitors_b = await rollups.visitors_of_periods(
            session, ws, sites, [period.each_day(), previous.each_day()], period.tz, query.now
        )
    figures = []
    for span, counted in zip((period, previous), found, strict=True):
        leads = await forms.submissions_between(session, ws, sites, span.start, span.end)
        total = counted["total"].get("", Counts())
        figures.append((total, rollups.visit_figures_of(counted), leads))
    (counts, visits, leads), (counts_b, visits_b, leads_b) = figures
    marketing = query.role == "marketing"
    return Overview(
        role=query.role,
        site=_site(query, site_param),
        period=period_info(period),
        visits=Metric(counts.visits, counts_b.visits),
        visitors=Metric(visitors, visitors_b),
        page_views=Metric(counts.page_views, counts_b.page_views),
        events=Metric(counts.events, counts_b.events),
        leads=Metric(leads.leads, leads_b.leads),
        submissions=Metric(leads.submissions, leads_b.submissions),
        bounce_rate=Metric(
            _rate(visits.bounces, visits.visits), _rate(visits_b.bounces, visits_b.visits)
        ),
        average_engagement=Metric(
            _average(visits.engagement_sum, visits.visits),
            _average(visits_b.engagement_sum, visits_b.visits),
        ),
        marketing_visible_pages=list(query.pages) if marketing else None,
    )


async def _visitors_with_clickhouse(
    session: AsyncSession, query: ReportQuery, clickhouse: ClickHouse
) -> list[int]:
    """The distinct visitors of the period and the one before, with ClickHouse keeping the
    visits. A period whose days are all over is counted as the SQL database counts it, from
    the days kept in ``visitor_days`` (made once from ClickHouse's visit starts): exact for a
    day, merged sketches beyond. A period with a day still going on is counted by ClickHouse
    on each request (``clickhouse_counts.visitors``: exact for a day, ``uniqCombined64``
    beyond), so the day going on is never read into Python (ADR 0014)."""
    tz, now = query.period.tz, query.now
    ws, sites = query.workspace_id, query.site_ids
    periods = [query.period, query.period.previous]
    over = [p for p in periods if all(rollups.settled(day, tz, now) for day in p.each_day())]
    going_on = [p for p in periods if p not in over]
    counted: dict[Period, int] = {}
    if over:
        kept = await rollups.visitors_of_periods(
            session,
            ws,
            sites,
            [p.each_day() for p in over],
            tz,
            now,
            visitor_ids=clickhouse_counts.visitor_ids(clickhouse, tz),
        )
        counted.update(zip(over, kept, strict=True))
    if going_on:
        live = await clickhouse_counts.visitors(
            clickhouse, ws, sites, [(p.start, p.end) for p in going_on]
        )
        counted.update(zip(going_on, live, strict=True))
    return [counted[p] for p in periods]


def _average(total: int, count: int) -> float:
    return round(total / count, 1) if count else 0.0


async def daily(
    session: AsyncSession,
    query: ReportQuery,
    site_param: str | None = None,
    clickhouse: ClickHouse | None = None,
) -> DailyVisits:
    period, previous = query.period, query.period.previous
    ws, sites = query.workspace_id, query.site_ids
    # The previous period's days and this one's are consecutive: one read of each kind.
    both = [*previous.each_day(), *period.each_day()]
    if clickhouse is not None:
        # The days that are over: their visitors kept in ``visitor_days`` (counted once from
        # ClickHouse's visit starts); the others' counted by ClickHouse on each request.
        over = [day for day in both if rollups.settled(day, period.tz, query.now)]
        live_from = (
            local_midnight(both[len(over)], period.tz) if len(over) < len(both) else period.end
        )
        found = await clickhouse_counts.days(
            clickhouse, ws, sites, previous.start, period.end, period.tz, live_from
        )
        counted = [rollups.DayCounts(day, found.get(day, (Counts(), 0))[0]) for day in both]
        visitors = {day: figures[1] for day, figures in found.items()}
        visitors.update(
            await rollups.visitors_by_day(
                session,
                ws,
                sites,
                over,
                period.tz,
                query.now,
                visitor_ids=clickhouse_counts.visitor_ids(clickhouse, period.tz),
            )
        )
    else:
        counted = await rollups.counts_by_day(session, ws, sites, both, period.tz)
        visitors = await rollups.visitors_by_day(session, ws, sites, both, period.tz, query.now)
    before, now = counted[: previous.days], counted[previous.days :]
    days = []
    for this, that in zip(now, before, strict=True):
        days.append(
            Day(
                date=this.day.isoformat(),
                previous_date=that.day.isoformat(),
                visits=Metric(this.counts.visits, that.counts.visits),
                visitors=Metric(visitors.get(this.day, 0), visitors.get(that.day, 0)),
                page_views=Metric(this.counts.page_views, that.counts.page_views),
                events=Metric(this.counts.events, that.counts.events),
            )
        )
    return DailyVisits(_site(query, site_param), period_info(period), days)


async def top_pages(
    session: AsyncSession,
    query: ReportQuery,
    limit: int,
    site_param: str | None = None,
    clickhouse: ClickHouse | None = None,
) -> TopPages:
    if clickhouse is not None:
        found, found_b = await _both(session, query, ("page",), clickhouse)
        now, before = _field(found["page"], "page_views"), _field(found_b["page"], "page_views")
        pages = [Page(path, metric) for path, metric in _top(now, before, limit)]
    else:
        tops = await _tops(session, query, ("page",), "page_views", limit)
        pages = [Page(path, metric) for path, metric in tops["page"]]
    return TopPages(_site(query, site_param), period_info(query.period), pages)


async def geo(
    session: AsyncSession,
    query: ReportQuery,
    limit: int,
    site_param: str | None = None,
    clickhouse: ClickHouse | None = None,
) -> Geo:
    if clickhouse is None:
        # The countries' visits and all visits, ranked and cut by the database; the visits
        # of no known country are all visits less those of every country.
        period, previous = query.period, query.period.previous
        ws, sites = query.workspace_id, query.site_ids
        top = await rollups.top_values(
            session, ws, sites, ("country", "total"), "visits", period.start, period.end, limit
        )
        wanted = {
            "country": [name for name, _ in top["country"].values],
            "total": [""],
        }
        earlier = await rollups.counts_of_values(
            session, ws, sites, wanted, "visits", previous.start, previous.end, whole=True
        )
        counted_b = dict(earlier["country"].values)
        rows = [
            Ranked(name, Metric(count, counted_b.get(name, 0)))
            for name, count in top["country"].values
        ]
        unknown = (
            max(0, top["total"].whole - top["country"].whole),
            max(0, earlier["total"].whole - earlier["country"].whole),
        )
        if unknown[0] or unknown[1]:
            rows.append(Ranked(None, Metric(*unknown)))
        return Geo(_site(query, site_param), period_info(query.period), rows)
    found, found_b = await _both(session, query, ("country", "total"), clickhouse)
    now, before = _field(found["country"], "visits"), _field(found_b["country"], "visits")
    total = found["total"].get("", Counts()).visits
    total_before = found_b["total"].get("", Counts()).visits
    unknown = (max(0, total - sum(now.values())), max(0, total_before - sum(before.values())))
    return Geo(
        _site(query, site_param),
        period_info(query.period),
        _ranked(now, before, limit, unknown),
    )


# Ten-point buckets: 0-9, ..., 80-89, and 90-100.
BUCKETS = tuple((low, low + 9 if low < 90 else 100) for low in range(0, 100, 10))


def _label_ranges() -> list[tuple[str, int, int]]:
    ranges, low = [], 0
    for ceiling, name in LABELS:
        ranges.append((name, low, ceiling))
        low = ceiling + 1
    return ranges


async def engagement(
    session: AsyncSession, query: ReportQuery, site_param: str | None = None
) -> Engagement:
    found = []
    # The visits per score class and their scores' sum, from the rollups the writer keeps as
    # scores change (a class lies in one bucket and one label).
    for counted in await _both(session, query, (rollups.SCORE, rollups.SCORE_SUM)):
        buckets = [0] * len(BUCKETS)
        labels: dict[str, int] = {}
        visits = 0
        for low, count in rollups.classes_of(counted).items():
            buckets[min(max(low, 0), 99) // 10] += count
            label = label_of(low)
            labels[label] = labels.get(label, 0) + count
            visits += count
        found.append((buckets, labels, visits, rollups.score_sum_of(counted)))
    (buckets, labels, visits, scores), (buckets_b, labels_b, visits_b, scores_b) = found
    return Engagement(
        site=_site(query, site_param),
        period=period_info(query.period),
        visits=Metric(visits, visits_b),
        average=Metric(_average(scores, visits), _average(scores_b, visits_b)),
        buckets=[
            Bucket(low, high, Metric(buckets[index], buckets_b[index]))
            for index, (low, high) in enumerate(BUCKETS)
        ],
        labels=[
            Label(name, low, high, Metric(labels.get(name, 0), labels_b.get(name, 0)))
            for name, low, high in _label_ranges()
        ],
    )


async def sources(
    session: AsyncSession,
    query: ReportQuery,
    limit: int,
    site_param: str | None = None,
    clickhouse: ClickHouse | None = None,
) -> Sources:
    dimensions = ("referrer", "channel", "source", "platform")
    if clickhouse is None:
        tops = await _tops(session, query, dimensions, "visits", limit)
        lists = {
            dimension: [Ranked(name, metric) for name, metric in tops[dimension]]
            for dimension in dimensions
        }
    else:
        found, found_b = await _both(session, query, dimensions, clickhouse)
        lists = {
            dimension: _ranked(
                _field(found[dimension], "visits"), _field(found_b[dimension], "visits"), limit
            )
            for dimension in dimensions
        }
    return Sources(
        site=_site(query, site_param),
        period=period_info(query.period),
        referrers=lists["referrer"],
        channels=lists["channel"],
        sources=lists["source"],
        platforms=lists["platform"],
    )


def _minutes(end: datetime, count: int) -> list[str]:
    last = end.replace(second=0, microsecond=0)
    return [
        (last - timedelta(minutes=n)).strftime("%Y-%m-%dT%H:%M") for n in range(count - 1, -1, -1)
    ]


async def realtime(
    session: AsyncSession,
    query: ReportQuery,
    site_param: str | None = None,
    clickhouse: ClickHouse | None = None,
) -> Realtime:
    """Visits seen in the last 5 minutes (and in the 5 before), events stored in the last 30
    minutes a minute at a time (and their sum in the 30 before), from the raw visits and
    events along their indexes: a read bounded by the hour before ``query.now``."""
    ws, sites, now = query.workspace_id, query.site_ids, query.now
    active = await rollups.active_visits(session, ws, sites, now - ACTIVE_FOR, now)
    active_before = await rollups.active_visits(
        session, ws, sites, now - 2 * ACTIVE_FOR, now - ACTIVE_FOR
    )
    # Whole minutes: the current one (so far) and the 29 before it.
    first = now.replace(second=0, microsecond=0) - EVENTS_FOR + timedelta(minutes=1)
    if clickhouse is not None:
        counted = await clickhouse_counts.events_by_minute(
            clickhouse, ws, sites, first - EVENTS_FOR, now
        )
    else:
        counted = await rollups.events_by_minute(session, ws, sites, first - EVENTS_FOR, now)
    minutes = _minutes(now, 30)
    earlier = set(_minutes(first - timedelta(minutes=1), 30))
    return Realtime(
        site=_site(query, site_param),
        now=iso_millis(now),
        active_visits=Metric(active, active_before),
        events=Metric(
            sum(counted.get(minute, 0) for minute in minutes),
            sum(count for minute, count in counted.items() if minute in earlier),
        ),
        minutes=[Minute(minute, counted.get(minute, 0)) for minute in minutes],
    )


def _iso(moment: datetime | None) -> str | None:
    return iso_millis(moment) if moment is not None else None


async def storage(
    session: AsyncSession,
    query: ReportQuery,
    events_retention_days: int,
    site_param: str | None = None,
    clickhouse: ClickHouse | None = None,
) -> Storage:
    found = await rollups.storage(session, query.workspace_id, query.site_ids)
    tables = [
        TableFigures(table, rows, found.bytes.get(table) if found.bytes is not None else None)
        for table, rows in found.rows.items()
    ]
    if clickhouse is not None:
        # The events are ClickHouse's: their rows, bytes and the oldest are read there.
        rows, size, oldest = await clickhouse_counts.storage(
            clickhouse, query.workspace_id, query.site_ids
        )
        tables = [
            TableFigures("events", rows, size) if figures.table == "events" else figures
            for figures in tables
        ]
        found.oldest_event = oldest
    return Storage(
        site=_site(query, site_param),
        tables=tables,
        bytes_measured_by=found.method,
        database_bytes=found.database_bytes,
        oldest_event=_iso(found.oldest_event),
        oldest_visit=_iso(found.oldest_visit),
        retention=Retention(events_days=events_retention_days, visits_days=None, rollups_days=None),
    )
