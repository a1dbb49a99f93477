"""The traffic reports against the raw visits and events they summarise: a generated week of
visits fed through the tracking writer at chosen moments, across the end of summer time in
Amsterdam (2026-10-25, a 25-hour day) and read in zones far from UTC; the previous period's
numbers; and the documented approximation for zones offset by part of an hour."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import msgspec
import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner

from leadline.analytics import traffic
from leadline.analytics.query import ReportQuery
from leadline.cli import app
from leadline.config import Settings
from leadline.db import Database
from leadline.kit.periods import Period
from leadline.sites.service import SiteInfo, site_by_key
from leadline.tracking import prepare as tracking
from leadline.tracking import rollups
from leadline.tracking.groups import apply_group
from leadline.tracking.prepare import VisitAnswer, Work
from leadline.tracking.rollups import floor_hour
from leadline.tracking.schemas import EventIn, VisitEnd, VisitStart
from leadline.tracking.store import TrackingStore, open_store
from tests.fixtures.factories import execute_sql, fetch_rows, make_site
from tests.tracking.scores import assert_rollups_hold_the_visits

T = TypeVar("T")
UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/140.0 Safari/537.36"
)
AMSTERDAM = ZoneInfo("Europe/Amsterdam")
# UTC+14 all year: its days start at 10:00 UTC the day before.
KIRITIMATI = ZoneInfo("Pacific/Kiritimati")
KOLKATA = ZoneInfo("Asia/Kolkata")  # UTC+5:30
FIRST = datetime(2026, 10, 19, 0, 0, tzinfo=UTC)
LAST = datetime(2026, 10, 31, 0, 0, tzinfo=UTC)
PATHS = ("/", "/pricing", "/offer", "/contact", "/blog/a")
REFERRERS = ("", "", "https://www.google.com/search?q=x", "https://news.example.org/post")


@dataclass
class Fed:
    site: SiteInfo
    workspace_id: str


def _run(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    async def runner() -> T:
        database = Database(settings)
        try:
            async with database.transaction() as session:
                return await work(session)
        finally:
            await database.dispose()

    return asyncio.run(runner())


def _apply(store: TrackingStore, work: Work, now: datetime) -> VisitAnswer:
    store.begin()
    result = apply_group(store, [work], now)
    store.commit()
    (answer,) = result.answers
    assert isinstance(answer, VisitAnswer), answer
    return answer


def _feed(store: TrackingStore, site: SiteInfo) -> None:
    """About 120 visits from FIRST to LAST, a visit every 1-4 hours at odd minutes: each
    lands on a path (some from a Google Ads click), views 0-4 pages 0-50 minutes apart (so
    some cross an hour, a day or the change of time), and some end with a duration."""
    chance = random.Random(20261025)
    moment = FIRST + timedelta(minutes=7)
    n = 0
    while moment < LAST:
        n += 1
        ip = f"203.0.113.{chance.randrange(1, 40)}"
        client = tracking.Client(ip=ip, user_agent=UA, origin_host="shop.example")
        path = chance.choice(PATHS)
        query = f"?gclid=g{n}" if chance.random() < 0.2 else ""
        start = VisitStart(
            siteKey=site.site.site_key,
            url=f"https://shop.example{path}{query}",
            referrer=chance.choice(REFERRERS),
        )
        begun = _apply(store, tracking.prepare_start(site, start, client, "secret", moment), moment)
        at = moment
        for page in range(chance.randrange(0, 5)):
            at += timedelta(minutes=chance.randrange(0, 50), seconds=chance.randrange(60))
            event = EventIn(
                type="page_view",
                id=f"{n}-{page}",
                url=f"https://shop.example{chance.choice(PATHS)}",
            )
            _apply(store, tracking.prepare_events(site, begun.visit_id, [event], client, at), at)
            if chance.random() < 0.3:
                click = EventIn(type="click", id=f"{n}-{page}-c")
                _apply(
                    store, tracking.prepare_events(site, begun.visit_id, [click], client, at), at
                )
        if chance.random() < 0.5:
            end = VisitEnd(
                siteKey=site.site.site_key,
                sessionId=begun.visit_id,
                durationMs=chance.randrange(0, 400_000),
                maxScroll=chance.randrange(0, 101),
                clicks=chance.randrange(0, 25),
            )
            at += timedelta(seconds=30)
            _apply(store, tracking.prepare_end(site, end, client), at)
        moment += timedelta(minutes=chance.randrange(60, 240), seconds=chance.randrange(60))


@pytest.fixture
def fed(settings: Settings) -> Fed:
    site_key = make_site(settings, "acme", "shop.example")
    site = _run(settings, lambda session: site_by_key(session, site_key))
    assert site is not None
    store = open_store(settings.sync_url)
    try:
        _feed(store, site)
    finally:
        store.close()
    return Fed(site, site.workspace_id)


def _query(fed: Fed, first: date, last: date, tz: ZoneInfo) -> ReportQuery:
    return ReportQuery(
        workspace_id=fed.workspace_id,
        site_ids=(fed.site.site_id,),
        period=Period(first, last, tz),
        now=LAST,
        role="admin",
        pages=("overview",),
    )


def _aware(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


@dataclass
class Raw:
    """What the raw tables say of a stretch of time."""

    visits: list[dict[str, Any]]
    events: list[dict[str, Any]]

    @classmethod
    def read(cls, settings: Settings) -> Raw:
        visits = fetch_rows(settings, "SELECT * FROM visits")
        events = fetch_rows(settings, "SELECT * FROM events")
        for visit in visits:
            visit["started_at"] = _aware(visit["started_at"])
        for event in events:
            event["received_at"] = _aware(event["received_at"])
        return cls(visits, events)

    def visits_in(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        return [v for v in self.visits if start <= v["started_at"] < end and not v["bot_reason"]]

    def events_in(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        return [e for e in self.events if start <= e["received_at"] < end]

    def page_views_in(self, start: datetime, end: datetime) -> Counter[str]:
        return Counter(
            "/" + e["url"].split("/", 3)[3] if e["url"].count("/") >= 3 else "/"
            for e in self.events_in(start, end)
            if e["type"] == "page_view"
        )


PERIODS = [
    # The week around the change of time, and the days of the change alone.
    (date(2026, 10, 22), date(2026, 10, 28), AMSTERDAM),
    (date(2026, 10, 25), date(2026, 10, 25), AMSTERDAM),
    (date(2026, 10, 24), date(2026, 10, 27), KIRITIMATI),
    (date(2026, 10, 26), date(2026, 10, 29), ZoneInfo("UTC")),
]


@pytest.mark.parametrize(("first", "last", "tz"), PERIODS)
def test_the_reports_say_what_the_raw_visits_and_events_say(
    settings: Settings, fed: Fed, first: date, last: date, tz: ZoneInfo
) -> None:
    query = _query(fed, first, last, tz)
    raw = Raw.read(settings)
    period, previous = query.period, query.period.previous
    assert previous.last == first - timedelta(days=1)

    overview = _run(settings, lambda session: traffic.overview(session, query))
    for span, pick in ((period, "value"), (previous, "previous")):
        visits = raw.visits_in(span.start, span.end)
        events = raw.events_in(span.start, span.end)
        assert visits, "the generated data covers every period tried"
        assert getattr(overview.visits, pick) == len(visits)
        assert getattr(overview.events, pick) == len(events)
        assert getattr(overview.page_views, pick) == sum(
            1 for e in events if e["type"] == "page_view"
        )
        assert getattr(overview.visitors, pick) == len({v["visitor_id"] for v in visits})
        bounces = sum(1 for v in visits if v["page_views"] == 1)
        assert getattr(overview.bounce_rate, pick) == round(100 * bounces / len(visits), 1)
        average = sum(v["engagement_score"] for v in visits) / len(visits)
        assert getattr(overview.average_engagement, pick) == round(average, 1)

    daily = _run(settings, lambda session: traffic.daily(session, query))
    assert [day.date for day in daily.days] == [d.isoformat() for d in period.each_day()]
    for day in daily.days:
        local = date.fromisoformat(day.date)
        span = Period(local, local, tz)
        visits = raw.visits_in(span.start, span.end)
        assert day.visits.value == len(visits)
        assert day.visitors.value == len({v["visitor_id"] for v in visits})
        assert day.events.value == len(raw.events_in(span.start, span.end))
        before = Period(
            date.fromisoformat(day.previous_date), date.fromisoformat(day.previous_date), tz
        )
        assert day.visits.previous == len(raw.visits_in(before.start, before.end))
    if first == last == date(2026, 10, 25) and tz is AMSTERDAM:
        assert period.end - period.start == timedelta(hours=25)

    pages = _run(settings, lambda session: traffic.top_pages(session, query, 100))
    expected = raw.page_views_in(period.start, period.end)
    expected_before = raw.page_views_in(previous.start, previous.end)
    assert {page.path: page.page_views.value for page in pages.pages} == dict(expected)
    assert {page.path: page.page_views.previous for page in pages.pages} == {
        path: expected_before.get(path, 0) for path in expected
    }

    engagement = _run(settings, lambda session: traffic.engagement(session, query))
    visits = raw.visits_in(period.start, period.end)
    assert engagement.visits.value == len(visits)
    average = sum(v["engagement_score"] for v in visits) / len(visits)
    assert engagement.average.value == round(average, 1)
    buckets = Counter(min(v["engagement_score"], 99) // 10 for v in visits)
    assert [bucket.visits.value for bucket in engagement.buckets] == [
        buckets.get(n, 0) for n in range(10)
    ]
    labels = Counter(v["engagement_label"] for v in visits)
    assert {label.label: label.visits.value for label in engagement.labels} == {
        name: labels.get(name, 0) for name in ("Cold", "Warm", "Hot", "Very Hot")
    }

    sources = _run(settings, lambda session: traffic.sources(session, query, 100))
    assert {row.name: row.visits.value for row in sources.channels} == dict(
        Counter(v["channel"] for v in visits)
    )
    assert {row.name: row.visits.value for row in sources.platforms} == dict(
        Counter("googleads" for v in visits if v["gclid"])
    )
    assert {row.name: row.visits.value for row in sources.referrers} == dict(
        Counter(v["referrer"].split("/")[2] for v in visits if v["referrer"])
    )


def test_a_zone_offset_by_half_an_hour_counts_from_the_hour_its_days_start_in(
    settings: Settings, fed: Fed
) -> None:
    """As documented: the rollups' counts of Kolkata's days run from the UTC hour each day
    starts in (18:00, not 18:30), engagement and bounces too (kept by the hour the visit
    started in); the visitors, counted from the visits of each local day, are exact."""
    query = _query(fed, date(2026, 10, 22), date(2026, 10, 27), KOLKATA)
    raw = Raw.read(settings)
    period = query.period
    assert period.start.minute == 30
    overview = _run(settings, lambda session: traffic.overview(session, query))
    hours = raw.visits_in(floor_hour(period.start), floor_hour(period.end))
    exact = raw.visits_in(period.start, period.end)
    assert overview.visits.value == len(hours)
    assert overview.visitors.value == len({v["visitor_id"] for v in exact})
    assert overview.events.value == len(
        raw.events_in(floor_hour(period.start), floor_hour(period.end))
    )


def test_the_hourly_rollups_hold_what_the_daily_ones_hold(settings: Settings, fed: Fed) -> None:
    """The writer adds the same rows to both, each at its group's hour and day."""

    def sums(table: str, moment: str) -> dict[tuple[Any, ...], tuple[int, int, int]]:
        rows = fetch_rows(
            settings,
            f"SELECT {moment} AS at, dimension, value, visits, page_views, events FROM {table}",
        )
        found: dict[tuple[Any, ...], tuple[int, int, int]] = {}
        for row in rows:
            at = row["at"]
            day = _aware(at).astimezone(UTC).date().isoformat() if moment == "hour" else str(at)
            key = (day, row["dimension"], row["value"])
            visits, page_views, events = found.get(key, (0, 0, 0))
            found[key] = (
                visits + row["visits"],
                page_views + row["page_views"],
                events + row["events"],
            )
        return found

    daily = sums("tracking_daily", "day")
    assert daily
    assert sums("tracking_hourly", "hour") == daily


# Zones whose days start at every kind of distance from UTC's: none, one or two hours (the
# end of summer time in Amsterdam on 2026-10-25, in New York on 2026-11-01), five and a half,
# thirteen (Auckland's summer) and fourteen.
DAY_ZONES = [
    ZoneInfo("UTC"),
    AMSTERDAM,
    ZoneInfo("America/New_York"),
    KOLKATA,
    ZoneInfo("Pacific/Auckland"),
    KIRITIMATI,
]
# The fed days and some before and after, where nothing was counted.
SERIES = [date(2026, 10, 16) + timedelta(days=n) for n in range(19)]


def _hourly_totals(settings: Settings) -> dict[datetime, tuple[int, int, int]]:
    rows = fetch_rows(
        settings,
        "SELECT hour, visits, page_views, events FROM tracking_hourly WHERE dimension = 'total'",
    )
    found: dict[datetime, tuple[int, int, int]] = {}
    for row in rows:
        hour = _aware(row["hour"]).astimezone(UTC)
        visits, page_views, events = found.get(hour, (0, 0, 0))
        found[hour] = (
            visits + row["visits"],
            page_views + row["page_views"],
            events + row["events"],
        )
    return found


def _counts_by_day(fed: Fed, settings: Settings, tz: ZoneInfo) -> list[tuple[str, int, int, int]]:
    found = _run(
        settings,
        lambda session: rollups.counts_by_day(
            session, fed.workspace_id, [fed.site.site_id], SERIES, tz
        ),
    )
    return [
        (day.day.isoformat(), day.counts.visits, day.counts.page_views, day.counts.events)
        for day in found
    ]


@pytest.mark.parametrize("tz", DAY_ZONES, ids=lambda tz: tz.key)
def test_a_zones_days_count_what_their_hours_count(
    settings: Settings, fed: Fed, tz: ZoneInfo
) -> None:
    """Each day of the series (read from the daily row of the UTC day it overlaps most and
    the hours where the two differ) holds the sum of the hourly rows of the UTC hours its
    hour-floored bounds hold: 23, 24 or 25 of them."""
    hours = _hourly_totals(settings)
    expected = []
    for day in SERIES:
        low = floor_hour(datetime.combine(day, time.min, tzinfo=tz))
        high = floor_hour(datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz))
        assert (high - low) in {timedelta(hours=n) for n in (23, 24, 25)}
        sums = [counts for hour, counts in hours.items() if low <= hour < high]
        expected.append((day.isoformat(), *(sum(counts[n] for counts in sums) for n in range(3))))
    assert sum(visits for _, visits, _, _ in expected) == sum(v for v, _, _ in hours.values())
    assert sum(1 for _, visits, _, _ in expected if visits) >= 10
    assert _counts_by_day(fed, settings, tz) == expected


def test_days_without_hourly_rows_are_read_from_the_daily_ones(
    settings: Settings, fed: Fed
) -> None:
    """Days counted before the hourly rollups were kept (an upgrade): a UTC day of the
    series is its daily row; a zone's day, that row and whatever hours there are."""
    daily = fetch_rows(
        settings,
        "SELECT day, visits, page_views, events FROM tracking_daily WHERE dimension = 'total'",
    )
    execute_sql(settings, "DELETE FROM tracking_hourly")
    by_day = {str(row["day"]): (row["visits"], row["page_views"], row["events"]) for row in daily}
    assert len(by_day) >= 10
    assert _counts_by_day(fed, settings, ZoneInfo("UTC")) == [
        (day.isoformat(), *by_day.get(day.isoformat(), (0, 0, 0))) for day in SERIES
    ]


def _rank_in_python(
    settings: Settings, query: ReportQuery, report: str, limit: int
) -> traffic.TopPages | traffic.Geo | traffic.Sources:
    """A ranked report as it was made before the database ranked it: every value of both
    periods read and ranked by ``traffic._top``."""

    async def work(session: AsyncSession) -> Any:
        site, info = None, traffic.period_info(query.period)
        if report == "pages":
            found, found_b = await traffic._both(session, query, ("page",))
            now = traffic._field(found["page"], "page_views")
            before = traffic._field(found_b["page"], "page_views")
            pages = [traffic.Page(p, m) for p, m in traffic._top(now, before, limit)]
            return traffic.TopPages(site, info, pages)
        if report == "geo":
            found, found_b = await traffic._both(session, query, ("country", "total"))
            now = traffic._field(found["country"], "visits")
            before = traffic._field(found_b["country"], "visits")
            total = found["total"].get("", rollups.Counts()).visits
            total_b = found_b["total"].get("", rollups.Counts()).visits
            unknown = (max(0, total - sum(now.values())), max(0, total_b - sum(before.values())))
            return traffic.Geo(site, info, traffic._ranked(now, before, limit, unknown))
        dimensions = ("referrer", "channel", "source", "platform")
        found, found_b = await traffic._both(session, query, dimensions)
        lists = [
            traffic._ranked(
                traffic._field(found[d], "visits"), traffic._field(found_b[d], "visits"), limit
            )
            for d in dimensions
        ]
        return traffic.Sources(site, info, *lists)

    return _run(settings, work)


def _add_rollup_rows(settings: Settings, fed: Fed) -> None:
    """Rows that rank by more than their counts: ties between names that sort differently
    by code point than by a language's rules (capitals, accents, punctuation), a name
    counted in a daily row and an edge hour, names that count nothing, and names of the
    previous period only."""
    from sqlalchemy import insert

    from leadline.models import TrackingDaily, TrackingHourly

    common = {"site_id": fed.site.site_id, "workspace_id": fed.workspace_id}
    names = ["/Zeta", "/alpha", "/\u00c4rger", "/zebra", "/_x", "/a b", "/\u00e9t\u00e9", "/B"]
    daily = []
    for dimension, field in (("page", "page_views"), ("country", "visits"), ("referrer", "visits")):
        for n, name in enumerate(names):
            value = name
            for day, count in ((date(2026, 10, 24), 4 + n % 2), (date(2026, 10, 17), 6)):
                daily.append(
                    {
                        **common,
                        "day": day,
                        "dimension": dimension,
                        "value": value + "~",
                        "visits": 0,
                        "visitors": 0,
                        "page_views": 0,
                        "events": 0,
                        field: count,
                    }
                )
        daily.append(
            {
                **common,
                "day": date(2026, 10, 24),
                "dimension": dimension,
                "value": "~none",
                "visits": 0,
                "visitors": 0,
                "page_views": 0,
                "events": 0,
            }
        )
    # An edge hour of Amsterdam's 2026-10-22 (it starts at 22:00 UTC the day before).
    hourly = [
        {
            **common,
            "hour": datetime(2026, 10, 21, 22, tzinfo=UTC),
            "dimension": "page",
            "value": "/B~",
            "visits": 0,
            "page_views": 1,
            "events": 0,
        },
        {
            **common,
            "hour": datetime(2026, 10, 21, 23, tzinfo=UTC),
            "dimension": "referrer",
            "value": "/B~",
            "visits": 1,
            "page_views": 0,
            "events": 0,
        },
    ]

    async def work(session: AsyncSession) -> None:
        await session.execute(insert(TrackingDaily), daily)
        await session.execute(insert(TrackingHourly), hourly)

    _run(settings, work)


@pytest.mark.parametrize(("first", "last", "tz"), PERIODS)
def test_the_database_ranks_values_as_python_ranked_them(
    settings: Settings, fed: Fed, first: date, last: date, tz: ZoneInfo
) -> None:
    """``pages/top``, ``geo`` and ``sources``, summed, ranked and cut by the database, say
    byte for byte what ranking every value of both periods in Python said, at any limit."""
    _add_rollup_rows(settings, fed)
    query = _query(fed, first, last, tz)
    for limit in (1, 2, 3, 5, 8, 100):
        for report, make in (
            ("pages", lambda session, limit=limit: traffic.top_pages(session, query, limit)),
            ("geo", lambda session, limit=limit: traffic.geo(session, query, limit)),
            ("sources", lambda session, limit=limit: traffic.sources(session, query, limit)),
        ):
            made = msgspec.json.encode(_run(settings, make))
            assert made == msgspec.json.encode(_rank_in_python(settings, query, report, limit)), (
                report,
                limit,
            )


def test_a_rebuild_from_the_raw_rows_makes_the_rollups_the_writer_made(
    settings: Settings, fed: Fed
) -> None:
    """What an upgrade (or data loaded behind the writer's back) is rebuilt with counts as the
    writer counted: every daily and hourly row the same."""
    from leadline.analytics.rebuild import rebuild_all

    def rollups() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        # Rows of nothing but zeros say nothing: the writer leaves one where a visit moved
        # away from a score (or stopped being a bounce) and nothing else counts there.
        daily = fetch_rows(
            settings,
            "SELECT site_id, day, dimension, value, visits, visitors, page_views, events"
            " FROM tracking_daily WHERE visits <> 0 OR visitors <> 0 OR page_views <> 0"
            " OR events <> 0 ORDER BY site_id, day, dimension, value",
        )
        hourly = fetch_rows(
            settings,
            "SELECT site_id, hour, dimension, value, visits, page_views, events"
            " FROM tracking_hourly WHERE visits <> 0 OR page_views <> 0 OR events <> 0"
            " ORDER BY site_id, dimension, hour, value",
        )
        return daily, hourly

    written = rollups()
    assert written[0]
    assert written[1]
    # The writer moved visits between scores and bounces as their rows changed.
    moved = {row["dimension"] for row in written[1]}
    assert {"score", "score_sum", "bounce"} <= moved
    execute_sql(settings, "DELETE FROM tracking_hourly")
    execute_sql(settings, "UPDATE tracking_daily SET visits = 0, visitors = 0")

    async def run() -> str:
        database = Database(settings)
        try:
            return await rebuild_all(database, FIRST, LAST + timedelta(days=1))
        finally:
            await database.dispose()

    said = asyncio.run(run())
    assert "1 sites" in said
    assert rollups() == written


def test_the_rollups_hold_each_visit_under_its_score_and_bounce_as_its_row_stands(
    settings: Settings, fed: Fed
) -> None:
    """Visits viewed pages, clicked and ended (their scores and bounces changed group after
    group); the rollups' ``score`` and ``bounce`` rows hold what the visits' rows say now."""
    raw = Raw.read(settings)
    assert len({v["engagement_score"] for v in raw.visits}) > 5
    assert any(v["page_views"] == 1 for v in raw.visits)
    assert any(v["page_views"] > 1 for v in raw.visits)
    assert_rollups_hold_the_visits(settings)


def test_visitor_days_are_kept_once_over_and_made_again_after_a_rebuild(
    settings: Settings, fed: Fed
) -> None:
    """A report counts a zone's days from the visits once and keeps each day that is over
    (not the day still going on at ``now``); later reports read what was kept; a rebuild of
    the rollups forgets the days it covers, so they follow the visits again."""
    from leadline.analytics.rebuild import rebuild_all

    query = _query(fed, date(2026, 10, 27), date(2026, 10, 31), AMSTERDAM)
    raw = Raw.read(settings)

    def daily() -> dict[str, int]:
        report = _run(settings, lambda session: traffic.daily(session, query))
        return {day.date: day.visitors.value for day in report.days}

    def expected() -> dict[str, int]:
        found = {}
        for local in query.period.each_day():
            span = Period(local, local, AMSTERDAM)
            visits = raw.visits_in(span.start, span.end)
            found[local.isoformat()] = len({v["visitor_id"] for v in visits})
        return found

    first = daily()
    assert first == expected()
    kept = fetch_rows(
        settings,
        "SELECT zone, day, visitors FROM visitor_days WHERE site_id = :site ORDER BY day",
        site=fed.site.site_id,
    )
    days = [str(row["day"]) for row in kept]
    # The previous period's five days and this one's, the last (2026-10-31 in Amsterdam ends
    # at 23:00 UTC, after ``now``, its midnight UTC) in part: as far as five minutes before.
    assert days == [
        *((date(2026, 10, 22) + timedelta(days=n)).isoformat() for n in range(9)),
        "2026-10-31",
    ]
    assert {row["zone"] for row in kept} == {"Europe/Amsterdam"}
    (going_on,) = fetch_rows(
        settings,
        "SELECT visitors, counted_until FROM visitor_days WHERE day = :day",
        day=date(2026, 10, 31),
    )
    settled = LAST - timedelta(minutes=5)
    assert _aware(going_on["counted_until"]) == settled
    today = Period(date(2026, 10, 31), date(2026, 10, 31), AMSTERDAM)
    assert going_on["visitors"] == len(
        {v["visitor_id"] for v in raw.visits_in(today.start, settled)}
    )

    # Every visit now has one visitor: what was kept does not change; the day still going on
    # adds the visitors first seen since it was kept.
    execute_sql(settings, "UPDATE visits SET visitor_id = 'the-same-one'")
    raw = Raw.read(settings)
    again = daily()
    over = [day for day in first if day != "2026-10-31"]
    assert any(first[day] > 1 for day in over)
    assert {day: again[day] for day in over} == {day: first[day] for day in over}
    since = raw.visits_in(settled, today.end) and not raw.visits_in(today.start, settled)
    assert again["2026-10-31"] == going_on["visitors"] + (1 if since else 0)

    async def rebuild() -> str:
        database = Database(settings)
        try:
            return await rebuild_all(database, FIRST, LAST + timedelta(days=1))
        finally:
            await database.dispose()

    asyncio.run(rebuild())
    rebuilt = daily()
    assert rebuilt == expected()
    assert set(rebuilt.values()) <= {0, 1}


def test_a_day_going_on_is_kept_in_part_and_counted_on_from_there(
    settings: Settings, fed: Fed
) -> None:
    """A day not over is kept as far as its visits are settled (five minutes before ``now``);
    a later report reads only the visitors first seen since, one seen before and since is
    counted once, the row moves on once ten minutes more have settled, and it is kept whole
    once the day is over."""
    from leadline.kit.distinct import merged
    from leadline.tracking import rollups

    day = date(2026, 10, 29)  # Amsterdam: 2026-10-28 23:00 to 2026-10-29 23:00 UTC
    midnight = datetime(2026, 10, 28, 23, 0, tzinfo=UTC)
    end = midnight + timedelta(days=1)
    site = fed.site.site_id
    visits = sorted(Raw.read(settings).visits_in(midnight, end), key=lambda v: v["started_at"])
    assert len(visits) >= 6
    # One visitor seen early in the day and again late: counted once.
    execute_sql(
        settings,
        "UPDATE visits SET visitor_id = 'returns' WHERE id IN (:a, :b)",
        a=visits[0]["id"],
        b=visits[-1]["id"],
    )
    raw = Raw.read(settings)

    def distinct(until: datetime) -> int:
        return len({v["visitor_id"] for v in raw.visits_in(midnight, until)})

    def count(now: datetime, sketched: bool = True) -> int:
        found = _run(
            settings,
            lambda session: rollups.visitor_days(
                session, fed.workspace_id, [site], [day], AMSTERDAM, now
            ),
        )
        visitors, sketch = found[(site, day)]
        if sketched:
            assert merged([sketch]) == visitors  # a few visitors: the sketch is exact
        return visitors

    def kept() -> tuple[int, datetime | None]:
        (row,) = fetch_rows(
            settings, "SELECT visitors, counted_until FROM visitor_days WHERE day = :day", day=day
        )
        until = row["counted_until"]
        return row["visitors"], None if until is None else _aware(until)

    split = visits[len(visits) // 2]["started_at"]
    first_now = split + timedelta(minutes=5)
    assert count(first_now) == distinct(end)
    assert kept() == (distinct(split), split)

    # What was kept is not counted again: a report adds the visitors first seen since to it.
    execute_sql(settings, "UPDATE visitor_days SET visitors = visitors + 1000")
    assert count(first_now + timedelta(minutes=1), sketched=False) == distinct(end) + 1000
    execute_sql(settings, "UPDATE visitor_days SET visitors = visitors - 1000")
    assert count(first_now + timedelta(minutes=9)) == distinct(end)
    assert kept() == (distinct(split), split)  # not ten minutes on: not moved
    later = split + timedelta(hours=3)
    assert count(later + timedelta(minutes=5)) == distinct(end)
    assert kept() == (distinct(later), later)
    # Over (and settled): kept whole.
    assert count(end + timedelta(minutes=5)) == distinct(end)
    assert kept() == (distinct(end), None)
    assert count(end + timedelta(days=1)) == distinct(end)


def test_a_report_answers_when_its_visitor_days_cannot_be_kept(
    settings: Settings, fed: Fed, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keeping the visitor days fails (SQLite refuses a write to a read transaction another
    connection wrote after): the report still answers with the counts, and keeps nothing."""
    from sqlalchemy import Column, MetaData, Table
    from sqlalchemy.dialects.postgresql import insert as pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    from leadline.models import VisitorDay
    from leadline.tracking import rollup_repository

    missing = Table(
        "no_such_table",
        MetaData(),
        *(Column(column.name, column.type) for column in VisitorDay.__table__.columns),
    )
    monkeypatch.setattr(rollup_repository, "sqlite_insert", lambda _: sqlite_insert(missing))
    monkeypatch.setattr(rollup_repository, "pg_insert", lambda _: pg_insert(missing))
    query = _query(fed, date(2026, 10, 27), date(2026, 10, 29), AMSTERDAM)
    raw = Raw.read(settings)
    report = _run(settings, lambda session: traffic.daily(session, query))
    for day in report.days:
        local = date.fromisoformat(day.date)
        span = Period(local, local, AMSTERDAM)
        visits = raw.visits_in(span.start, span.end)
        assert day.visitors.value == len({v["visitor_id"] for v in visits})
    assert any(day.visitors.value for day in report.days)
    overview = _run(settings, lambda session: traffic.overview(session, query))
    assert overview.visitors.value == len(
        {v["visitor_id"] for v in raw.visits_in(query.period.start, query.period.end)}
    )
    assert fetch_rows(settings, "SELECT count(*) AS n FROM visitor_days") == [{"n": 0}]


# The hourly rows that count anything (see above: the writer leaves rows of zeros), and the sum.
COUNTED = (
    "SELECT count(CASE WHEN visits <> 0 OR page_views <> 0 OR events <> 0 THEN 1 END) AS n,"
    " sum(visits) AS v FROM tracking_hourly"
)


def test_the_command_rebuilds_the_rollups_of_the_days_it_is_given(
    settings: Settings, fed: Fed, cli: CliRunner
) -> None:
    written = fetch_rows(settings, COUNTED)
    execute_sql(settings, "DELETE FROM tracking_hourly")
    result = cli.invoke(
        app, ["sites", "rebuild-rollups", "--from", "2026-10-19", "--to", "2026-10-31"]
    )
    assert result.exit_code == 0, result.output
    assert "1 sites, 13 days from 2026-10-19" in result.output
    assert fetch_rows(settings, COUNTED) == written
    refused = cli.invoke(
        app, ["sites", "rebuild-rollups", "--from", "yesterday", "--to", "2026-10-31"]
    )
    assert refused.exit_code == 1
    assert "--from and --to must be dates" in refused.output
