"""The hourly aggregates ClickHouse keeps for the traffic reports: read for the whole hours of
a range, raw at its edges and in the hours a local midnight cuts (a zone offset by half an
hour or 45 minutes), they give what the raw rows alone give; an installation made before them
gets them filled from its raw rows once; a transaction taken back is taken off them too."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from leadline.clickhouse import hourly
from leadline.clickhouse.client import ClickHouse
from leadline.clickhouse.schema import ensure_tables
from leadline.config import Settings
from leadline.tracking import clickhouse_repository as repo
from tests.clickhouse.test_differential import Fed, _fed

KOLKATA = ZoneInfo("Asia/Kolkata")
KATHMANDU = ZoneInfo("Asia/Kathmandu")
AMSTERDAM = ZoneInfo("Europe/Amsterdam")
ALL = ("total", "page", "event", "channel", "source", "referrer", "country", "platform")


def _at(day: int, hour: int, minute: int = 0, tz: ZoneInfo = ZoneInfo("UTC")) -> datetime:
    return datetime(2026, 10, day, hour, minute, tzinfo=tz)


# Ranges whose ends are not on the hour (and one that is), in UTC and in local zones.
RANGES = [
    [(_at(22, 10, 17), _at(24, 15, 42)), (_at(20, 4, 17), _at(22, 10, 17))],
    [
        (_at(25, 0, tz=KOLKATA), _at(28, 0, tz=KOLKATA)),
        (_at(22, 0, tz=KOLKATA), _at(25, 0, tz=KOLKATA)),
    ],
    [(_at(23, 0, tz=KATHMANDU), _at(27, 0, tz=KATHMANDU))],
    [(_at(24, 0, tz=AMSTERDAM), _at(27, 0, tz=AMSTERDAM))],
    [(_at(25, 13, 5), _at(25, 13, 55))],  # inside one hour: raw only
]
DAYS = [
    (_at(20, 0, tz=KOLKATA), _at(29, 0, tz=KOLKATA), KOLKATA),
    (_at(21, 0, tz=KATHMANDU), _at(28, 0, tz=KATHMANDU), KATHMANDU),
    (_at(22, 0, tz=AMSTERDAM), _at(29, 0, tz=AMSTERDAM), AMSTERDAM),
    (_at(22, 10, 17), _at(26, 7, 3), ZoneInfo("America/New_York")),
]


@pytest.fixture
def fed(settings: Settings, clickhouse: ClickHouse, clickhouse_url: str) -> Fed:
    return _fed(settings, "ch", clickhouse_url)


def _answers(clickhouse: ClickHouse, fed: Fed) -> list[Any]:
    ws, sites = fed.site.workspace_id, [fed.site.site_id]
    found: list[Any] = []
    for ranges in RANGES:
        found.append(repo.counts_by_values_sync(clickhouse, ws, sites, ALL, ranges))
        found.append(repo.visitors_sync(clickhouse, ws, sites, ranges))
    for start, end, tz in DAYS:
        found.append(repo.days_sync(clickhouse, ws, sites, start, end, tz))
    return found


def _raw(clickhouse: ClickHouse, fed: Fed, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The answers from the raw rows alone (as before the hourly tables)."""
    with monkeypatch.context() as patched:
        patched.setattr(hourly, "state", lambda client: None)
        return _answers(clickhouse, fed)


def _sums(clickhouse: ClickHouse) -> tuple[int, ...]:
    ((events, views),) = clickhouse.query(
        "SELECT sum(events), sumIf(events, type = 'page_view') FROM events_hourly"
    )
    ((visits,),) = clickhouse.query(
        "SELECT sum(visits) FROM visits_hourly WHERE dimension = 'total'"
    )
    ((visitors, sketched),) = clickhouse.query(
        "SELECT uniqExactMerge(visitors), uniqCombined64Merge(12)(sketch) FROM visitors_hourly"
    )
    assert sketched == visitors, "a few hundred visitors: the sketch holds them exactly"
    return int(events), int(views), int(visits), int(visitors)


def _raw_sums(clickhouse: ClickHouse) -> tuple[int, ...]:
    ((events, views),) = clickhouse.query(
        "SELECT count(), countIf(type = 'page_view') FROM events WHERE bot = 0"
    )
    ((visits, visitors),) = clickhouse.query(
        "SELECT count(), uniqExactIf((site_id, visitor_id), visitor_id != '') FROM visits"
        " WHERE bot = 0"
    )
    return int(events), int(views), int(visits), int(visitors)


def test_whole_hours_from_the_aggregates_and_edges_raw_answer_as_the_raw_rows(
    clickhouse: ClickHouse, fed: Fed, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _sums(clickhouse) == _raw_sums(clickhouse)
    assert _sums(clickhouse)[0] > 300
    state = hourly.state(clickhouse)
    assert state is not None
    # The ranges do cross hours cut by their ends and by local midnights: both parts are read.
    for ranges in RANGES[:3]:
        hours, raw = repo._split(ranges, (), state)
        assert hours
        assert raw
        assert all(b - a <= timedelta(hours=1) for a, b in raw)
    assert repo._split(RANGES[3], (), state)[1] == [], "Amsterdam's days begin on the hour"
    start, end, tz = DAYS[0]
    hours, raw = repo._split([(start, end)], repo._midnights(start, end, tz), state)
    assert len(raw) == (end - start).days + 1, "each Kolkata midnight cuts an hour, read raw"
    assert all(a.minute == 0 and b.minute == 0 for a, b in hours)
    # Visits fall in those cut hours, on either side of the Kolkata midnight.
    ((near,),) = clickhouse.query(
        "SELECT count() FROM visits WHERE toHour(started_at) = 18 AND bot = 0"
    )
    assert near > 0

    expected = _raw(clickhouse, fed, monkeypatch)
    assert _answers(clickhouse, fed) == expected
    assert expected[0][0]["total"][""].visits > 0

    # The whole hours are the aggregates' indeed: with the raw events gone, those hours still
    # count, and only the edges lose theirs.
    clickhouse.command("TRUNCATE TABLE events")
    ws, sites = fed.site.workspace_id, [fed.site.site_id]
    (hours_too,) = repo.counts_by_values_sync(clickhouse, ws, sites, ("total",), RANGES[1][:1])
    with monkeypatch.context() as raw_only:
        raw_only.setattr(hourly, "state", lambda client: None)
        (raw_alone,) = repo.counts_by_values_sync(clickhouse, ws, sites, ("total",), RANGES[1][:1])
    assert hours_too["total"][""].events > 0
    assert raw_alone["total"][""].events == 0
    assert raw_alone["total"][""].visits == hours_too["total"][""].visits > 0


def test_an_installation_made_before_the_aggregates_gets_them_filled_once(
    clickhouse: ClickHouse, fed: Fed, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = _answers(clickhouse, fed)
    hourly.drop(clickhouse)
    # As an older version left it: raw rows only; the reports read them raw.
    ensure_tables_without_hourly(clickhouse)
    assert hourly.state(clickhouse) is None
    assert _answers(clickhouse, fed) == expected
    hourly.drop(clickhouse)

    ensure_tables(clickhouse)
    state = hourly.state(clickhouse)
    assert state is not None
    assert state.filled_before < datetime.now(UTC) < state.complete_from
    assert _sums(clickhouse) == _raw_sums(clickhouse)
    assert _answers(clickhouse, fed) == expected
    # Again (every process's setup runs it): nothing counted twice.
    ensure_tables(clickhouse)
    assert _sums(clickhouse) == _raw_sums(clickhouse)
    assert _answers(clickhouse, fed) == _raw(clickhouse, fed, monkeypatch) == expected


def ensure_tables_without_hourly(clickhouse: ClickHouse) -> None:
    """The tables and views without the step that fills them (a process that stopped before
    it, or an older version): the state is missing, so nothing reads the aggregates."""
    for statement in (*hourly.TABLES, *hourly.VIEWS):
        clickhouse.command(statement)


def test_deleted_rows_are_taken_off_the_aggregates(clickhouse: ClickHouse, fed: Fed) -> None:
    """What the writer does with a transaction whose commit failed, for a day's rows."""
    day = {"a": int(_at(25, 0).timestamp()), "b": int(_at(26, 0).timestamp())}
    events = (
        "received_at >= toDateTime({a:Int64}, 'UTC') AND received_at < toDateTime({b:Int64}, 'UTC')"
    )
    visits = events.replace("received_at", "started_at")
    before = _sums(clickhouse)
    hourly.forget_events(clickhouse, events, day)
    clickhouse.command(f"DELETE FROM events WHERE {events}", day)
    hours = hourly.forget_visits(clickhouse, visits, day)
    assert hours
    clickhouse.command(f"DELETE FROM visits WHERE {visits}", day)
    hourly.visitors_again(clickhouse, hours)
    after = _sums(clickhouse)
    assert after == _raw_sums(clickhouse)
    assert all(a < b for a, b in zip(after, before, strict=True))
    ws, sites = fed.site.workspace_id, [fed.site.site_id]
    (counted,) = repo.counts_by_values_sync(
        clickhouse, ws, sites, ("total",), [(_at(25, 0), _at(26, 0))]
    )
    assert counted["total"] == {}
    assert repo.visitors_sync(clickhouse, ws, sites, [(_at(25, 0), _at(26, 0))]) == [0]
    assert date(2026, 10, 25) not in repo.days_sync(
        clickhouse, ws, sites, _at(24, 0), _at(27, 0), ZoneInfo("UTC")
    )
