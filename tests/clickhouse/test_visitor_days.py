"""With ClickHouse keeping the visits, the visitors of the days that are over come from the
kept ``visitor_days`` (made once from ClickHouse's visit starts, as the SQL database makes
them from its visits), and those of the day still going on from ClickHouse on each request."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from leadline.analytics import traffic
from leadline.analytics.query import ReportQuery
from leadline.clickhouse.client import ClickHouse
from leadline.config import Settings
from leadline.kit.distinct import merged
from leadline.kit.periods import Period
from leadline.tracking import rollups
from tests.analytics.test_traffic import AMSTERDAM, _run
from tests.clickhouse.test_differential import NOW, Fed, _fed
from tests.fixtures.factories import fetch_rows

# Before the generated week: no day of it is over.
EARLY = datetime(2026, 10, 1, tzinfo=UTC)


@pytest.fixture
def both(settings: Settings, clickhouse: ClickHouse, clickhouse_url: str) -> tuple[Fed, Fed]:
    """The generated week fed into workspace ``sql`` (events in the SQL database) and into
    workspace ``ch`` (events in ClickHouse)."""
    return _fed(settings, "sql", None), _fed(settings, "ch", clickhouse_url)


def _query(fed: Fed, first: date, last: date, now: datetime) -> ReportQuery:
    return ReportQuery(
        workspace_id=fed.site.workspace_id,
        site_ids=(fed.site.site_id,),
        period=Period(first, last, AMSTERDAM),
        now=now,
        role="admin",
        pages=("overview",),
    )


def _daily(settings: Settings, query: ReportQuery, clickhouse: ClickHouse | None) -> dict[str, int]:
    report = _run(settings, lambda session: traffic.daily(session, query, None, clickhouse))
    return {day.date: int(day.visitors.value) for day in report.days}


def _overview(settings: Settings, query: ReportQuery, clickhouse: ClickHouse | None) -> Any:
    report = _run(settings, lambda session: traffic.overview(session, query, None, clickhouse))
    return (report.visitors.value, report.visitors.previous)


def _kept(settings: Settings, fed: Fed) -> dict[tuple[str, str], tuple[int, bytes]]:
    return {
        (row["zone"], str(row["day"])): (int(row["visitors"]), bytes(row["sketch"]))
        for row in fetch_rows(
            settings,
            "SELECT zone, day, visitors, sketch FROM visitor_days WHERE site_id = :site",
            site=fed.site.site_id,
        )
    }


def _visit_in_clickhouse(clickhouse: ClickHouse, fed: Fed, started: datetime) -> None:
    """A visit of a new visitor stored in ClickHouse only (the SQL database has no row)."""
    clickhouse.insert(
        "visits",
        ("id", "workspace_id", "site_id", "visitor_id", "started_at", "bot"),
        [
            (
                uuid.uuid4().hex,
                fed.site.workspace_id,
                fed.site.site_id,
                f"only-in-clickhouse-{uuid.uuid4().hex}",
                started,
                0,
            )
        ],
    )


def test_days_over_keep_the_visitors_the_sql_database_keeps(
    settings: Settings, clickhouse: ClickHouse, both: tuple[Fed, Fed]
) -> None:
    in_sql, in_clickhouse = both
    ws, sites = in_clickhouse.site.workspace_id, (in_clickhouse.site.site_id,)
    # 2026-10-22 to 2026-10-28 and the week before; at NOW 2026-10-27 is going on.
    query = (date(2026, 10, 22), date(2026, 10, 28))
    over = [date(2026, 10, 15) + timedelta(days=n) for n in range(12)]
    # What the SQL database counts of the same visits (the SQL rows of the visits ClickHouse
    # keeps too), asked at a moment none of the days is over, so nothing is kept.
    from_sql = _run(
        settings,
        lambda session: rollups.visitor_days(session, ws, sites, over, AMSTERDAM, EARLY),
    )
    assert _kept(settings, in_clickhouse) == {}

    expected = _daily(settings, _query(in_sql, *query, NOW), None)
    answered = _daily(settings, _query(in_clickhouse, *query, NOW), clickhouse)
    assert answered == expected
    assert sum(expected.values()) > 20

    # The days over are kept, with the SQL database's counts and sketches (the same coupons:
    # the union of the two sketches holds as many as either), as the SQL database keeps them
    # for the workspace fed without ClickHouse.
    kept = _kept(settings, in_clickhouse)
    assert sorted(kept) == [("Europe/Amsterdam", day.isoformat()) for day in over]
    for day in over:
        visitors, sketch = kept[("Europe/Amsterdam", day.isoformat())]
        sql_visitors, sql_sketch = from_sql[(in_clickhouse.site.site_id, day)]
        assert visitors == sql_visitors, day
        assert merged([sketch, sql_sketch]) == merged([sketch]) == merged([sql_sketch]) == visitors
    assert any(visitors > 3 for visitors, _ in kept.values())
    sql_kept = {key: visitors for key, (visitors, _) in _kept(settings, in_sql).items()}
    # The SQL database keeps the day going on in part too (ADR 0011); ClickHouse counts it.
    assert sql_kept.pop(("Europe/Amsterdam", "2026-10-27"), None) is not None
    assert sql_kept == {key: visitors for key, (visitors, _) in kept.items()}

    # Overviews of days that are over are counted from the kept days, as the SQL database
    # counts them.
    for first, last in (query, (date(2026, 10, 24), date(2026, 10, 24))):
        sql_query = _query(in_sql, first, last, NOW)
        clickhouse_query = _query(in_clickhouse, first, last, NOW)
        assert _overview(settings, clickhouse_query, clickhouse) == _overview(
            settings, sql_query, None
        )


def test_a_day_over_is_read_once_from_clickhouse_and_kept(
    settings: Settings, clickhouse: ClickHouse, both: tuple[Fed, Fed]
) -> None:
    """The kept days are counted from ClickHouse's visit starts (a visit only there counts),
    once: visits added to ClickHouse afterwards change the day going on, not a kept day."""
    _, fed = both
    today, yesterday = date(2026, 10, 27), date(2026, 10, 26)
    daily = _query(fed, date(2026, 10, 24), today, NOW)
    before = _daily(settings, daily, clickhouse)
    assert before[today.isoformat()] > 0

    # One visit of a new visitor on the day going on and one on the day before, in
    # ClickHouse only: the day going on counts it at once, the kept day does not.
    _visit_in_clickhouse(clickhouse, fed, datetime(2026, 10, 27, 9, 30, tzinfo=UTC))
    _visit_in_clickhouse(clickhouse, fed, datetime(2026, 10, 26, 9, 30, tzinfo=UTC))
    after = _daily(settings, daily, clickhouse)
    assert after == {**before, today.isoformat(): before[today.isoformat()] + 1}
    one_day = _query(fed, today, today, NOW)
    assert _overview(settings, one_day, clickhouse) == (
        before[today.isoformat()] + 1,
        before[yesterday.isoformat()],
    )

    # A day later 2026-10-27 is over: kept once, from ClickHouse (with its visit there only),
    # and no longer changed by what ClickHouse receives for it.
    later = NOW + timedelta(days=1)
    counted = _daily(settings, _query(fed, today, today, later), clickhouse)
    assert counted == {today.isoformat(): before[today.isoformat()] + 1}
    assert _kept(settings, fed)[("Europe/Amsterdam", today.isoformat())][0] == (
        before[today.isoformat()] + 1
    )
    _visit_in_clickhouse(clickhouse, fed, datetime(2026, 10, 27, 10, 30, tzinfo=UTC))
    assert _daily(settings, _query(fed, today, today, later), clickhouse) == counted
    assert (
        _overview(settings, _query(fed, today, today, later), clickhouse)[0]
        == (counted[today.isoformat()])
    )
