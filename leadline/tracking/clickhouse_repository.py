"""The traffic reports' counts read from ClickHouse (ADR 0014).

When ``LEADLINE_CLICKHOUSE_URL`` is set the analytics routes take visits, visitors, page
views and events, per dimension, per local day and per minute, from here, in the shapes
``tracking.rollups`` gives them from the SQL database's rollups. A range is read from the
hourly aggregates ClickHouse keeps (``leadline.clickhouse.hourly``) for its whole UTC hours
and from the raw events and visit starts for the rest: its edges, and in a zone offset by
part of an hour the hours a local midnight cuts (``_split``). So days are exact in every
zone, half-hour ones too; visitors are exact per day and over a day (merged ``uniqExact``
states) and as near over longer periods as the SQL database's sketches (``visitors_sync``);
and the time a report takes follows its hours, not its events. The visitors of the days that
are over are not counted here on each request: they are kept in the SQL database's
``visitor_days``, made once from ClickHouse's visit starts (``visitor_ids``, ADR 0014).
What follows a visit's changing row (its engagement score, whether it bounced) stays in the
SQL database with the visits, and is read from its rollups.

Every statement is scoped to the workspace and its sites; the ClickHouse client is
synchronous, so each read runs in a thread.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from leadline.clickhouse import hourly
from leadline.clickhouse.client import ClickHouse, millis
from leadline.clickhouse.hourly import HOUR, VISITOR, HourlyState
from leadline.clickhouse.schema import DIMENSIONS
from leadline.tracking.rollup_repository import Counts
from leadline.tracking.rollups import VisitorIds

# The dimensions counted from the events rather than from the visits' starts.
_EVENT_DIMENSIONS = ("page", "event")
_PEOPLE = "workspace_id = {ws:String} AND site_id IN {sites:Array(String)}"


Span = tuple[datetime, datetime]


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC) if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _floor_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def _merged(spans: list[Span]) -> list[Span]:
    out: list[Span] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def _split(
    ranges: Sequence[Span], cuts: Sequence[datetime], filled: HourlyState | None
) -> tuple[list[Span], list[Span]]:
    """(whole hours, raw spans) of the ranges: the UTC hours wholly inside a range, cut by
    none of ``cuts`` (and, for a range's own ends, by none of the ranges' bounds) and held by
    the hourly tables, to read from them; everything else of the ranges, to read raw. Each
    list merged into as few spans as it takes."""
    if filled is None:
        return [], _merged([(_utc(a), _utc(b)) for a, b in ranges if a < b])
    bounds = sorted(
        {_utc(m) for pair in ranges for m in pair}
        | {_utc(m) for m in cuts}
        | {filled.filled_before, filled.complete_from}
    )
    hours: list[Span] = []
    raw: list[Span] = []
    for start, end in ranges:
        start, end = _utc(start), _utc(end)
        inside = [m for m in bounds if start < m < end]
        for a, b in zip([start, *inside], [*inside, end], strict=True):
            # No bound inside: the segment's hours are all on one side of the filled ones'.
            first = _floor_hour(a) if _floor_hour(a) == a else _floor_hour(a) + HOUR
            last = _floor_hour(b)
            if first < last and filled.whole(first):
                if a < first:
                    raw.append((a, first))
                hours.append((first, last))
                if last < b:
                    raw.append((last, b))
            else:
                raw.append((a, b))
    return _merged(hours), _merged(raw)


def _within(column: str, name: str, spans: Sequence[Span], params: dict[str, Any]) -> str:
    """``column`` in one of ``spans`` (bound as ``{name}{n}a``/``{name}{n}b``, in ms)."""
    tests = []
    for n, (start, end) in enumerate(spans):
        params[f"{name}{n}a"], params[f"{name}{n}b"] = millis(start), millis(end)
        tests.append(
            f"({column} >= fromUnixTimestamp64Milli({{{name}{n}a:Int64}}, 'UTC')"
            f" AND {column} < fromUnixTimestamp64Milli({{{name}{n}b:Int64}}, 'UTC'))"
        )
    return "(" + " OR ".join(tests) + ")" if tests else "0"


def _parts(
    clickhouse: ClickHouse, ranges: Sequence[Span], cuts: Sequence[datetime], params: dict[str, Any]
) -> tuple[str, str]:
    """The conditions on an hourly table's ``hour`` and on a raw row's moment (``{at}``)
    that read each moment of ``ranges`` once."""
    hours, raw = _split(ranges, cuts, hourly.state(clickhouse))
    return _within("hour", "h", hours, params), _within("{at}", "r", raw, params)


def _range(column: str) -> str:
    return (
        f"{column} >= fromUnixTimestamp64Milli({{start:Int64}}, 'UTC')"
        f" AND {column} < fromUnixTimestamp64Milli({{end:Int64}}, 'UTC')"
    )


def _span(column: str, count: int) -> str:
    """Which of ``count`` ranges (``{s1}``-``{e1}``, ...; 1-based) the row's moment falls in;
    0 for none. The rows are read from the first start to the last end (``_range``)."""
    tests = ", ".join(
        f"{column} >= fromUnixTimestamp64Milli({{s{n}:Int64}}, 'UTC')"
        f" AND {column} < fromUnixTimestamp64Milli({{e{n}:Int64}}, 'UTC'), {n}"
        for n in range(1, count + 1)
    )
    return f"multiIf({tests}, 0)"


def _ranges(params: dict[str, Any]) -> int:
    """How many ranges ``_spans`` put in ``params``."""
    return sum(1 for name in params if name[0] == "s" and name[1:].isdigit())


def _params(
    workspace_id: str, site_ids: Sequence[str], start: datetime, end: datetime, **more: Any
) -> dict[str, Any]:
    return {
        "ws": workspace_id,
        "sites": list(site_ids),
        "start": millis(start),
        "end": millis(end),
        **more,
    }


def _spans(
    workspace_id: str, site_ids: Sequence[str], ranges: Sequence[tuple[datetime, datetime]]
) -> dict[str, Any]:
    bounds: dict[str, Any] = {}
    for n, (start, end) in enumerate(ranges, 1):
        bounds[f"s{n}"], bounds[f"e{n}"] = millis(start), millis(end)
    return _params(
        workspace_id,
        site_ids,
        min(start for start, _ in ranges),
        max(end for _, end in ranges),
        **bounds,
    )


def _visits_by_dimension(
    clickhouse: ClickHouse,
    params: dict[str, Any],
    dimensions: Sequence[str],
    parts: tuple[str, str],
) -> list[tuple[int, str, str, int]]:
    """(range, dimension, value, visits) of the people's visits started in each range."""
    names = [name for name in dimensions if name == "total" or name in DIMENSIONS]
    pairs = ", ".join(
        "('total', '')" if name == "total" else f"('{name}', toString({name}))"
        for name in names  # column names, never the caller's text
    )
    if not pairs:
        return []
    hour_in, raw_in = parts
    count = _ranges(params)
    rows = clickhouse.query(
        "SELECT part, dimension, value, sum(n) AS visits FROM ("  # noqa: S608
        f"SELECT {_span('hour', count)} AS part, dimension, value, sum(visits) AS n"
        f" FROM visits_hourly WHERE {_PEOPLE} AND {hour_in}"
        " AND dimension IN {dimensions:Array(String)} GROUP BY part, dimension, value"
        f" UNION ALL SELECT {_span('started_at', count)} AS part,"
        " pair.1 AS dimension, pair.2 AS value, toInt64(count()) AS n"
        f" FROM visits ARRAY JOIN [{pairs}] AS pair"
        f" WHERE {_PEOPLE} AND bot = 0 AND {raw_in.replace('{at}', 'started_at')}"
        " GROUP BY part, dimension, value)"
        " GROUP BY part, dimension, value"
        " HAVING part > 0 AND visits != 0 AND (value != '' OR dimension = 'total')",
        {**params, "dimensions": names},
    )
    return [(int(p), str(d), str(v), int(n)) for p, d, v, n in rows]


def _events_by(
    clickhouse: ClickHouse, params: dict[str, Any], key: str, parts: tuple[str, str]
) -> list[tuple[int, str, int, int]]:
    """(range, value, events, page views) per ``key``: '' (all), ``path`` of page views or
    ``type``, of the people's events stored in each range."""
    value = {"": "''", "path": "path", "type": "type"}[key]
    only = " AND type = 'page_view'" if key == "path" else ""
    hour_in, raw_in = parts
    count = _ranges(params)
    rows = clickhouse.query(
        "SELECT part, value, sum(e) AS events_n, sum(pv) AS page_views_n FROM ("  # noqa: S608
        f"SELECT {_span('hour', count)} AS part, {value} AS value,"
        " sum(events) AS e, sumIf(events, type = 'page_view') AS pv FROM events_hourly"
        f" WHERE {_PEOPLE} AND {hour_in}{only} GROUP BY part, value"
        f" UNION ALL SELECT {_span('received_at', count)} AS part, {value} AS value,"
        " toInt64(count()) AS e, toInt64(countIf(type = 'page_view')) AS pv FROM events"
        f" WHERE {_PEOPLE} AND {raw_in.replace('{at}', 'received_at')}{only} AND bot = 0"
        " GROUP BY part, value)"
        " GROUP BY part, value HAVING part > 0 AND (events_n != 0 OR page_views_n != 0)",
        params,
    )
    return [(int(p), str(v), int(e), int(pv)) for p, v, e, pv in rows]


def counts_by_values_sync(
    clickhouse: ClickHouse,
    workspace_id: str,
    site_ids: Sequence[str],
    dimensions: Sequence[str],
    ranges: Sequence[tuple[datetime, datetime]],
) -> list[dict[str, dict[str, Counts]]]:
    """What ``rollups.counts_by_values`` gives: per range, per dimension, per value; one read
    of the visits and one of the events per kind, for every range."""
    found: list[dict[str, dict[str, Counts]]] = [
        {dimension: {} for dimension in dimensions} for _ in ranges
    ]
    params = _spans(workspace_id, site_ids, ranges)
    parts = _parts(clickhouse, ranges, (), params)
    visit_dimensions = [d for d in dimensions if d not in _EVENT_DIMENSIONS]
    if visit_dimensions:
        for part, dimension, value, visits in _visits_by_dimension(
            clickhouse, params, visit_dimensions, parts
        ):
            found[part - 1][dimension].setdefault(value, Counts()).visits += visits
    for dimension, key in (("total", ""), ("page", "path"), ("event", "type")):
        if dimension in dimensions:
            for part, value, events, page_views in _events_by(clickhouse, params, key, parts):
                counts = found[part - 1][dimension].setdefault(value, Counts())
                counts.page_views += page_views
                if dimension != "page":
                    counts.events += events
    return found


def _midnights(start: datetime, end: datetime, tz: ZoneInfo) -> list[datetime]:
    """The moments the local days of ``tz`` begin between ``start`` and ``end``."""
    day, last = start.astimezone(tz).date(), end.astimezone(tz).date()
    found = []
    while day <= last:
        day += timedelta(days=1)
        found.append(datetime.combine(day, time(), tzinfo=tz))
    return found


def days_sync(
    clickhouse: ClickHouse,
    workspace_id: str,
    site_ids: Sequence[str],
    start: datetime,
    end: datetime,
    tz: ZoneInfo,
    visitors_from: datetime | None = None,
) -> dict[date, tuple[Counts, int]]:
    """Per local day of ``tz`` from ``start`` to ``end``: the counts and distinct visitors;
    with ``visitors_from`` (a local midnight), the visitors of the days from it on only (the
    days before are read from ``visitor_days``, ``rollups.visitor_days`` with
    ``visitor_ids``), none when it is ``end`` or later. An hour read from the hourly tables
    lies in one local day: the days' midnights cut it otherwise (``_split``), and it is read
    raw."""
    params = _params(workspace_id, site_ids, start, end, tz=tz.key)
    hour_in, raw_in = _parts(clickhouse, [(start, end)], _midnights(start, end, tz), params)
    visits_in, events_in = (
        raw_in.replace("{at}", "started_at"),
        raw_in.replace("{at}", "received_at"),
    )
    visits = clickhouse.query(
        "SELECT day, sum(n) AS visits_n FROM ("  # noqa: S608
        "SELECT toDate(hour, {tz:String}) AS day, sum(visits) AS n FROM visits_hourly"
        f" WHERE {_PEOPLE} AND {hour_in} AND dimension = 'total' GROUP BY day"
        " UNION ALL SELECT toDate(started_at, {tz:String}) AS day, toInt64(count()) AS n"
        f" FROM visits WHERE {_PEOPLE} AND bot = 0 AND {visits_in} GROUP BY day)"
        " GROUP BY day HAVING visits_n != 0",
        params,
    )
    visitors = _visitors_by_day(
        clickhouse, workspace_id, site_ids, max(start, visitors_from or start), end, tz
    )
    found: dict[date, tuple[Counts, int]] = {}
    for day, count in visits:
        found[day] = (Counts(visits=int(count)), int(visitors.get(day, 0)))
    for day, count in visitors.items():
        if day not in found:
            found[day] = (Counts(), int(count))
    for day, events, page_views in clickhouse.query(
        "SELECT day, sum(e) AS events_n, sum(pv) AS page_views_n FROM ("  # noqa: S608
        "SELECT toDate(hour, {tz:String}) AS day, sum(events) AS e,"
        " sumIf(events, type = 'page_view') AS pv FROM events_hourly"
        f" WHERE {_PEOPLE} AND {hour_in} GROUP BY day"
        " UNION ALL SELECT toDate(received_at, {tz:String}) AS day, toInt64(count()) AS e,"
        " toInt64(countIf(type = 'page_view')) AS pv FROM events"
        f" WHERE {_PEOPLE} AND {events_in} AND bot = 0 GROUP BY day)"
        " GROUP BY day HAVING events_n != 0 OR page_views_n != 0",
        params,
    ):
        counts, people = found.get(day) or (Counts(), 0)
        counts.events += int(events)
        counts.page_views += int(page_views)
        found[day] = (counts, people)
    return found


def _visitors_by_day(
    clickhouse: ClickHouse,
    workspace_id: str,
    site_ids: Sequence[str],
    start: datetime,
    end: datetime,
    tz: ZoneInfo,
) -> dict[date, int]:
    """Distinct visitors per local day of ``tz`` from ``start`` to ``end``, exact: the
    hours' ``uniqExact`` states merged, the hours a midnight cuts read raw."""
    if start >= end:
        return {}
    params = _params(workspace_id, site_ids, start, end, tz=tz.key)
    hour_in, raw_in = _parts(clickhouse, [(start, end)], _midnights(start, end, tz), params)
    return {
        day: int(count)
        for day, count in clickhouse.query(
            "SELECT day, uniqExactMerge(state) FROM ("  # noqa: S608
            "SELECT toDate(hour, {tz:String}) AS day, visitors AS state FROM visitors_hourly"
            f" WHERE {_PEOPLE} AND {hour_in}"
            " UNION ALL SELECT toDate(started_at, {tz:String}) AS day,"
            f" uniqExactState({VISITOR}) AS state FROM visits"
            f" WHERE {_PEOPLE} AND bot = 0 AND visitor_id != ''"
            f" AND {raw_in.replace('{at}', 'started_at')} GROUP BY day)"
            " GROUP BY day HAVING uniqExactMerge(state) > 0",
            params,
        )
    }


def _visitor_ids_sync(
    clickhouse: ClickHouse,
    workspace_id: str,
    site_ids: Sequence[str],
    start: datetime,
    end: datetime,
) -> list[tuple[str, datetime, str]]:
    """Each visitor (``VISITOR``) of the people's visits started from ``start`` to ``end``
    once, with the start of its first visit there: (site, started at, visitor id)."""
    rows = clickhouse.query(
        f"SELECT {VISITOR} AS visitor, min(started_at) FROM visits"  # noqa: S608
        f" WHERE {_PEOPLE} AND bot = 0 AND visitor_id != '' AND {_range('started_at')}"
        " GROUP BY visitor",
        _params(workspace_id, site_ids, start, end),
    )
    return [(str(site_id), _utc(started), str(ident)) for (site_id, ident), started in rows]


def visitor_ids(clickhouse: ClickHouse, tz: ZoneInfo) -> VisitorIds:
    """Where ``rollups.visitor_days`` reads the visitor ids of the days it has not kept,
    with ClickHouse keeping the visits (its ``visitor_ids``). A range is read a local day of
    ``tz`` at a time, one statement each (a seek along the table's order) giving each visitor
    of that day once: Python holds one day's visitors at a time, and each once, not once per
    visit."""

    async def read(
        workspace_id: str, site_ids: Sequence[str], start: datetime, end: datetime
    ) -> AsyncIterator[tuple[str, datetime, str]]:
        cuts = [start, *(m for m in _midnights(start, end, tz) if start < m < end), end]
        for low, high in itertools.pairwise(cuts):
            for row in await asyncio.to_thread(
                _visitor_ids_sync, clickhouse, workspace_id, site_ids, low, high
            ):
                yield row

    return read


# A range of a day at most (a day may have 25 hours) counts its visitors exactly.
_ONE_DAY = timedelta(hours=25)


def visitors_sync(
    clickhouse: ClickHouse,
    workspace_id: str,
    site_ids: Sequence[str],
    ranges: Sequence[tuple[datetime, datetime]],
) -> list[int]:
    """Distinct visitors (a visitor id of a site) of the people's visits started in each
    range: the hours' states merged with the edges' visitors. Exact for ranges of a day at
    most (``uniqExact``), as the SQL database counts them; for longer ones
    ``uniqCombined64(12)`` (exact up to a few hundred, then a HyperLogLog of 2^12 cells, 1.6%
    standard error), where the SQL database merges HyperLogLog sketches (within 3.3% 95 times
    in 100)."""
    counted = dict.fromkeys(range(1, len(ranges) + 1), 0)
    params = _spans(workspace_id, site_ids, ranges)
    hour_in, raw_in = _parts(clickhouse, ranges, (), params)
    if all(end - start <= _ONE_DAY for start, end in ranges):
        merge, add, state = "uniqExactMerge", "uniqExactState", "visitors"
    else:
        merge, add, state = "uniqCombined64Merge(12)", "uniqCombined64State(12)", "sketch"
    for part, visitors in clickhouse.query(
        f"SELECT part, {merge}(state) FROM ("  # noqa: S608
        f"SELECT {_span('hour', len(ranges))} AS part, {state} AS state FROM visitors_hourly"
        f" WHERE {_PEOPLE} AND {hour_in}"
        f" UNION ALL SELECT {_span('started_at', len(ranges))} AS part,"
        f" {add}({VISITOR}) AS state FROM visits"
        f" WHERE {_PEOPLE} AND bot = 0 AND visitor_id != ''"
        f" AND {raw_in.replace('{at}', 'started_at')} GROUP BY part)"
        " GROUP BY part HAVING part > 0",
        params,
    ):
        counted[int(part)] = int(visitors)
    return [counted[part] for part in sorted(counted)]


def events_by_minute_sync(
    clickhouse: ClickHouse,
    workspace_id: str,
    site_ids: Sequence[str],
    start: datetime,
    end: datetime,
) -> dict[str, int]:
    """Events stored per UTC minute (``YYYY-MM-DDTHH:MM``), bots' too, as the SQL
    database's realtime read counts them."""
    rows = clickhouse.query(
        "SELECT formatDateTime(toStartOfMinute(received_at), '%Y-%m-%dT%H:%i', 'UTC') AS minute,"  # noqa: S608
        f" count() FROM events WHERE {_PEOPLE} AND {_range('received_at')} GROUP BY minute",
        _params(workspace_id, site_ids, start, end),
    )
    return {str(minute): int(count) for minute, count in rows}


def storage_sync(
    clickhouse: ClickHouse, workspace_id: str, site_ids: Sequence[str]
) -> tuple[int, int | None, datetime | None]:
    """The workspace's events in ClickHouse, the bytes the events table takes on disk (all
    workspaces', as the SQL database measures its tables) and the oldest event."""
    ((rows, oldest),) = clickhouse.query(
        "SELECT count(), min(received_at) FROM events"
        " WHERE workspace_id = {ws:String} AND site_id IN {sites:Array(String)}",
        {"ws": workspace_id, "sites": list(site_ids)},
    )
    ((size,),) = clickhouse.query(
        "SELECT sum(bytes_on_disk) FROM system.parts"
        " WHERE database = currentDatabase() AND table = 'events' AND active"
    )
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=UTC)
    return int(rows), int(size) if size is not None else None, oldest if int(rows) else None


async def counts_by_values(
    clickhouse: ClickHouse,
    workspace_id: str,
    site_ids: Sequence[str],
    dimensions: Sequence[str],
    ranges: Sequence[tuple[datetime, datetime]],
) -> list[dict[str, dict[str, Counts]]]:
    return await asyncio.to_thread(
        counts_by_values_sync, clickhouse, workspace_id, site_ids, dimensions, ranges
    )


async def days(
    clickhouse: ClickHouse,
    workspace_id: str,
    site_ids: Sequence[str],
    start: datetime,
    end: datetime,
    tz: ZoneInfo,
    visitors_from: datetime | None = None,
) -> dict[date, tuple[Counts, int]]:
    return await asyncio.to_thread(
        days_sync, clickhouse, workspace_id, site_ids, start, end, tz, visitors_from
    )


async def visitors(
    clickhouse: ClickHouse,
    workspace_id: str,
    site_ids: Sequence[str],
    ranges: Sequence[tuple[datetime, datetime]],
) -> list[int]:
    return await asyncio.to_thread(visitors_sync, clickhouse, workspace_id, site_ids, ranges)


async def events_by_minute(
    clickhouse: ClickHouse,
    workspace_id: str,
    site_ids: Sequence[str],
    start: datetime,
    end: datetime,
) -> dict[str, int]:
    return await asyncio.to_thread(
        events_by_minute_sync, clickhouse, workspace_id, site_ids, start, end
    )


async def storage(
    clickhouse: ClickHouse, workspace_id: str, site_ids: Sequence[str]
) -> tuple[int, int | None, datetime | None]:
    return await asyncio.to_thread(storage_sync, clickhouse, workspace_id, site_ids)


def delete_workspaces_sync(clickhouse: ClickHouse, workspace_ids: Sequence[str]) -> None:
    """Delete every event and visit start of the workspaces (purged from the SQL database)."""
    for table in ("events", "visits", *hourly.AGGREGATES):
        clickhouse.command(
            f"DELETE FROM {table} WHERE workspace_id IN {{ids:Array(String)}}",  # noqa: S608
            {"ids": list(workspace_ids)},
        )


def events_by_hour_sync(
    clickhouse: ClickHouse,
    workspace_id: str,
    site_id: str,
    spans: Sequence[tuple[datetime, datetime]],
) -> dict[datetime, int]:
    """Events received from the site in each UTC hour of ``spans``, bots' included (as
    ``tracking.series.events_by_hour`` counts them for the anomaly check)."""
    if not spans:
        return {}
    rows = clickhouse.query(
        "SELECT toStartOfHour(received_at) AS hour, count() FROM events"  # noqa: S608
        f" WHERE {_PEOPLE} AND {_range('received_at')}"
        f" AND {_span('received_at', len(spans))} > 0 GROUP BY hour",
        _spans(workspace_id, [site_id], spans),
    )
    found: dict[datetime, int] = {}
    for hour, count in rows:
        at = hour if hour.tzinfo is not None else hour.replace(tzinfo=UTC)
        found[at] = found.get(at, 0) + int(count)
    return found


async def events_by_hour(
    clickhouse: ClickHouse,
    workspace_id: str,
    site_id: str,
    spans: Sequence[tuple[datetime, datetime]],
) -> dict[datetime, int]:
    return await asyncio.to_thread(events_by_hour_sync, clickhouse, workspace_id, site_id, spans)


# ------------------------------------------------------------------------------ raw events

# An event's columns as exports and timelines read them; ``client_id`` (the event's id as the
# browser sent it, unique within its visit) stands for the SQL database's row id.
_EVENT_ROW = "client_id, site_id, visit_id, type, occurred_at, received_at, url, data"
# After the time, visit and id of the last event read (None: from the start).
EventKeyset = tuple[datetime, tuple[str, str]] | None


def _event_row(row: Sequence[Any]) -> tuple[Any, ...]:
    ident, site_id, visit_id, kind, occurred, received, url, data = row
    return (
        str(ident),
        str(site_id),
        str(visit_id),
        str(kind),
        _utc(occurred),
        _utc(received),
        url,
        str(data),
    )


def events_of_visit_sync(
    clickhouse: ClickHouse,
    workspace_id: str,
    site_id: str,
    visit_id: str,
    since: datetime,
    until: datetime,
    limit: int,
) -> list[tuple[Any, ...]]:
    """The newest ``limit`` events of the visit received from ``since`` to ``until``
    (included), newest first, as rows of ``_EVENT_ROW``: found along the site's events by
    time, as in the SQL database."""
    rows = clickhouse.query(
        f"SELECT {_EVENT_ROW} FROM events"  # noqa: S608
        " WHERE workspace_id = {ws:String} AND site_id = {site:String}"
        " AND visit_id = {visit:String}"
        " AND received_at >= fromUnixTimestamp64Milli({since:Int64}, 'UTC')"
        " AND received_at <= fromUnixTimestamp64Milli({until:Int64}, 'UTC')"
        " ORDER BY received_at DESC, client_id DESC LIMIT {limit:UInt32}",
        {
            "ws": workspace_id,
            "site": site_id,
            "visit": visit_id,
            "since": millis(since),
            "until": millis(until),
            "limit": limit,
        },
    )
    return [_event_row(row) for row in rows]


def events_page_sync(
    clickhouse: ClickHouse,
    workspace_id: str,
    site_id: str,
    start: datetime,
    end: datetime,
    after: EventKeyset,
    limit: int,
    *,
    humans: bool = False,
) -> list[tuple[Any, ...]]:
    """Up to ``limit`` of the site's events received from ``start`` to ``end`` (excluded),
    after the keyset, in order of (received_at, visit_id, client_id), as rows of
    ``_EVENT_ROW``; with ``humans``, not those of visits taken for bots. The time bound leads
    the table's key, so each page is a seek."""
    params: dict[str, Any] = _params(workspace_id, [site_id], start, end, limit=limit)
    later = ""
    if after is not None:
        moment, (visit_id, client_id) = after
        params.update(last=millis(moment), last_visit=visit_id, last_id=client_id)
        later = (
            " AND received_at >= fromUnixTimestamp64Milli({last:Int64}, 'UTC')"
            " AND (received_at, visit_id, client_id) > (fromUnixTimestamp64Milli("
            "{last:Int64}, 'UTC'), {last_visit:String}, {last_id:String})"
        )
    rows = clickhouse.query(
        f"SELECT {_EVENT_ROW} FROM events"  # noqa: S608
        f" WHERE {_PEOPLE} AND {_range('received_at')}{later}"
        f"{' AND bot = 0' if humans else ''}"
        " ORDER BY received_at, visit_id, client_id LIMIT {limit:UInt32}",
        params,
    )
    return [_event_row(row) for row in rows]


def count_events_sync(
    clickhouse: ClickHouse,
    workspace_id: str,
    site_ids: Sequence[str],
    start: datetime,
    end: datetime,
) -> int:
    """How many events the sites have received from ``start`` to ``end`` (excluded)."""
    if not site_ids:
        return 0
    ((found,),) = clickhouse.query(
        f"SELECT count() FROM events WHERE {_PEOPLE} AND {_range('received_at')}",  # noqa: S608
        _params(workspace_id, site_ids, start, end),
    )
    return int(found)


async def events_of_visit(
    clickhouse: ClickHouse,
    workspace_id: str,
    site_id: str,
    visit_id: str,
    since: datetime,
    until: datetime,
    limit: int,
) -> list[tuple[Any, ...]]:
    return await asyncio.to_thread(
        events_of_visit_sync, clickhouse, workspace_id, site_id, visit_id, since, until, limit
    )


async def events_page(
    clickhouse: ClickHouse,
    workspace_id: str,
    site_id: str,
    start: datetime,
    end: datetime,
    after: EventKeyset,
    limit: int,
    *,
    humans: bool = False,
) -> list[tuple[Any, ...]]:
    return await asyncio.to_thread(
        lambda: events_page_sync(
            clickhouse, workspace_id, site_id, start, end, after, limit, humans=humans
        )
    )


async def count_events(
    clickhouse: ClickHouse,
    workspace_id: str,
    site_ids: Sequence[str],
    start: datetime,
    end: datetime,
) -> int:
    return await asyncio.to_thread(
        count_events_sync, clickhouse, workspace_id, site_ids, start, end
    )
