"""The same generated visits and events, fed through the tracking writer's group algorithm
into the SQL database alone (SQLite, PostgreSQL) and into the SQL database with ClickHouse
keeping the events: every traffic report answers the same from either.

The week is tests/analytics/test_traffic.py's (about 120 visits around the end of summer
time in Amsterdam). Its periods are read in zones a whole number of hours from UTC, where the
SQL rollups' days are exact too; in a zone offset by part of an hour the rollups take the
UTC hour a day starts in and ClickHouse does not (a test below). Visitors over several days
are merged from HyperLogLog sketches on the SQL side: with a few hundred visitors per sketch
the sketch keeps the hashed ids themselves, so the counts match exactly here; beyond, they
are within the documented 3.3% (ClickHouse counts them exactly, ``uniqExact``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from leadline.analytics import traffic
from leadline.analytics.query import ReportQuery
from leadline.clickhouse.client import ClickHouse, open_clickhouse
from leadline.config import Settings
from leadline.kit.periods import Period
from leadline.sites.service import SiteInfo, site_by_key
from leadline.tracking import clickhouse_repository as clickhouse_counts
from leadline.tracking import series
from leadline.tracking.store import open_store
from leadline.tracking.store_clickhouse import ClickHouseStore
from tests.analytics.test_traffic import AMSTERDAM, KIRITIMATI, KOLKATA, _feed, _run
from tests.fixtures.factories import fetch_rows, make_site

# A moment inside the generated week: realtime counts back from it.
NOW = datetime(2026, 10, 27, 14, 3, 20, tzinfo=UTC)
PERIODS = [
    (date(2026, 10, 22), date(2026, 10, 28), AMSTERDAM),
    (date(2026, 10, 25), date(2026, 10, 25), AMSTERDAM),
    (date(2026, 10, 24), date(2026, 10, 27), KIRITIMATI),
    (date(2026, 10, 26), date(2026, 10, 29), ZoneInfo("UTC")),
    (date(2026, 10, 19), date(2026, 10, 30), ZoneInfo("America/New_York")),
]
# What every backend answered, to hold SQLite's and PostgreSQL's answers to each other too.
ANSWERED: dict[str, dict[str, Any]] = {}


@dataclass
class Fed:
    site: SiteInfo


def _fed(settings: Settings, workspace: str, clickhouse_url: str | None) -> Fed:
    site_key = make_site(settings, workspace, "shop.example")
    site = _run(settings, lambda session: site_by_key(session, site_key))
    assert site is not None
    store = open_store(settings.sync_url)
    if clickhouse_url is not None:
        store = ClickHouseStore(store, open_clickhouse(clickhouse_url))
    try:
        _feed(store, site)
    finally:
        store.close()
    return Fed(site)


@pytest.fixture
def both(
    settings: Settings, clickhouse: ClickHouse, clickhouse_url: str
) -> Iterator[tuple[Fed, Fed]]:
    """The week fed into workspace ``sql`` (events in the SQL database) and into workspace
    ``ch`` (events in ClickHouse)."""
    return _fed(settings, "sql", None), _fed(settings, "ch", clickhouse_url)


def _query(fed: Fed, first: date, last: date, tz: ZoneInfo) -> ReportQuery:
    return ReportQuery(
        workspace_id=fed.site.workspace_id,
        site_ids=(fed.site.site_id,),
        period=Period(first, last, tz),
        now=NOW,
        role="admin",
        pages=("overview",),
    )


Report = Callable[[AsyncSession, ReportQuery, ClickHouse | None], Any]
REPORTS: dict[str, Report] = {
    "overview": lambda s, q, ch: traffic.overview(s, q, None, ch),
    "sessions/daily": lambda s, q, ch: traffic.daily(s, q, None, ch),
    "pages/top": lambda s, q, ch: traffic.top_pages(s, q, 100, None, ch),
    "pages/top?limit=2": lambda s, q, ch: traffic.top_pages(s, q, 2, None, ch),
    "geo": lambda s, q, ch: traffic.geo(s, q, 100, None, ch),
    "engagement": lambda s, q, ch: traffic.engagement(s, q, None),
    "sources": lambda s, q, ch: traffic.sources(s, q, 100, None, ch),
    "sources?limit=1": lambda s, q, ch: traffic.sources(s, q, 1, None, ch),
    "realtime": lambda s, q, ch: traffic.realtime(s, q, None, ch),
}


def _answer(settings: Settings, report: Report, query: ReportQuery, ch: ClickHouse | None) -> Any:
    return msgspec.to_builtins(_run(settings, lambda session: report(session, query, ch)))


def test_every_traffic_report_answers_the_same_from_clickhouse(
    settings: Settings, clickhouse: ClickHouse, both: tuple[Fed, Fed]
) -> None:
    """One feed per database (it is the slow part); every period and report on it."""
    in_sql, in_clickhouse = both
    ((events,),) = clickhouse.query("SELECT count() FROM events")
    assert events > 300, "the week's events are in ClickHouse"
    (kept,) = fetch_rows(
        settings,
        "SELECT count(*) AS n FROM events WHERE workspace_id = :ws",
        ws=in_clickhouse.site.workspace_id,
    )
    assert kept["n"] == 0, "with ClickHouse the SQL database keeps no events"
    backend = "sqlite" if settings.is_sqlite else "postgresql"
    for first, last, tz in PERIODS:
        for name, report in REPORTS.items():
            expected = _answer(settings, report, _query(in_sql, first, last, tz), None)
            answered = _answer(settings, report, _query(in_clickhouse, first, last, tz), clickhouse)
            assert answered == expected, f"{name} {first} {last} {tz.key}"
            key = f"{name} {first} {last} {tz.key}"
            assert ANSWERED.setdefault(key, {}).setdefault("answer", expected) == expected, (
                f"{name}: {backend} answers as the other database did"
            )
        # The answers are not empty: the comparison compares something.
        overview = _answer(settings, REPORTS["overview"], _query(in_sql, first, last, tz), None)
        assert overview["visits"]["value"] > 0
        assert overview["page_views"]["value"] > 0
    _storage_counts_the_events_clickhouse_keeps(settings, clickhouse, both)
    _the_anomaly_checks_events_per_hour_agree(settings, clickhouse, both)
    _clickhouse_days_are_exact_in_a_zone_offset_by_half_an_hour(settings, clickhouse, both)


def _storage_counts_the_events_clickhouse_keeps(
    settings: Settings, clickhouse: ClickHouse, both: tuple[Fed, Fed]
) -> None:
    in_sql, in_clickhouse = both
    answers = []
    for fed, ch in ((in_sql, None), (in_clickhouse, clickhouse)):
        query = _query(fed, date(2026, 10, 22), date(2026, 10, 28), AMSTERDAM)
        found = _run(
            settings, lambda session, q=query, c=ch: traffic.storage(session, q, 390, None, c)
        )
        answers.append(found)
    sql, ch_answer = answers
    assert {t.table: t.rows for t in ch_answer.tables} == {t.table: t.rows for t in sql.tables}
    events = next(t for t in ch_answer.tables if t.table == "events")
    assert events.rows > 300
    assert events.bytes
    assert ch_answer.oldest_event == sql.oldest_event
    assert ch_answer.oldest_visit == sql.oldest_visit


def _moment(value: Any) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _clickhouse_days_are_exact_in_a_zone_offset_by_half_an_hour(
    settings: Settings, clickhouse: ClickHouse, both: tuple[Fed, Fed]
) -> None:
    """Where the SQL rollups count a Kolkata day from the UTC hour it starts in, ClickHouse
    counts it from its own midnight (the hourly aggregates for the hours a midnight does not
    cut, the raw rows for the half hours on either side of it): each day's visits, visitors,
    page views and events, and a period's, are exactly the raw rows' of that day."""
    in_sql, in_clickhouse = both
    visits = [
        (_moment(row["started_at"]), row["visitor_id"])
        for row in fetch_rows(
            settings,
            "SELECT started_at, visitor_id FROM visits WHERE workspace_id = :ws"
            " AND bot_reason IS NULL",
            ws=in_clickhouse.site.workspace_id,
        )
    ]
    # The same week's events, kept by the SQL database for the other workspace.
    events = [
        (_moment(row["received_at"]), row["type"])
        for row in fetch_rows(
            settings,
            "SELECT e.received_at, e.type FROM events e JOIN visits v ON v.id = e.visit_id"
            " WHERE e.workspace_id = :ws AND v.bot_reason IS NULL",
            ws=in_sql.site.workspace_id,
        )
    ]
    # Rows on either side of a Kolkata midnight (18:30 UTC), within its UTC hour.
    assert any(m.hour == 18 and m.minute < 30 for m, _ in events)
    assert any(m.hour == 18 and m.minute >= 30 for m, _ in events)

    def figures(start: datetime, end: datetime) -> tuple[int, int, int, int]:
        started = [visitor for m, visitor in visits if start <= m < end]
        stored = [kind for m, kind in events if start <= m < end]
        return (
            len(started),
            len({visitor for visitor in started if visitor}),
            sum(1 for kind in stored if kind == "page_view"),
            len(stored),
        )

    first, last = date(2026, 10, 20), date(2026, 10, 29)
    query = _query(in_clickhouse, first, last, KOLKATA)
    daily = _run(settings, lambda session: traffic.daily(session, query, None, clickhouse))
    counted = 0
    for day in daily.days:
        start = datetime.combine(date.fromisoformat(day.date), datetime.min.time(), tzinfo=KOLKATA)
        found = (day.visits.value, day.visitors.value, day.page_views.value, day.events.value)
        assert found == figures(start, start + timedelta(days=1)), day.date
        counted += int(day.events.value)
    assert counted > 200
    overview = _run(settings, lambda session: traffic.overview(session, query, None, clickhouse))
    start = datetime.combine(first, datetime.min.time(), tzinfo=KOLKATA)
    end = datetime.combine(last + timedelta(days=1), datetime.min.time(), tzinfo=KOLKATA)
    assert (
        overview.visits.value,
        overview.visitors.value,
        overview.page_views.value,
        overview.events.value,
    ) == figures(start, end)


def _the_anomaly_checks_events_per_hour_agree(
    settings: Settings, clickhouse: ClickHouse, both: tuple[Fed, Fed]
) -> None:
    """The hourly check's heartbeat (events per hour of its spans) reads ClickHouse when it
    keeps the events: the same counts."""
    in_sql, in_clickhouse = both
    spans = [
        (datetime(2026, 10, 20, 6, tzinfo=UTC), datetime(2026, 10, 20, 18, tzinfo=UTC)),
        (datetime(2026, 10, 25, 0, tzinfo=UTC), datetime(2026, 10, 26, 3, tzinfo=UTC)),
    ]
    expected = _run(
        settings, lambda session: series.events_by_hour(session, in_sql.site.site_id, spans)
    )
    found = clickhouse_counts.events_by_hour_sync(
        clickhouse, in_clickhouse.site.workspace_id, in_clickhouse.site.site_id, spans
    )
    assert sum(expected.values()) > 10
    assert found == expected
