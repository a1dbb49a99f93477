"""The traffic reports' hourly aggregates, kept by ClickHouse itself (ADR 0014).

Three tables, per workspace, site and UTC hour, each filled by a materialized view as rows
are inserted into ``events`` and ``visits`` (bots' rows left out, as the reports leave them
out):

- ``events_hourly`` (``SummingMergeTree``): events per type and page path (the path of page
  views; '' for other events);
- ``visits_hourly`` (``SummingMergeTree``): visit starts per rollup dimension and value
  (``total`` with '' for all of them);
- ``visitors_hourly`` (``AggregatingMergeTree``): two states of the hour's visitors (a site
  and a visitor id): ``uniqExact`` (``visitors``), whose merged states count each visitor
  once, exactly, read for a range of a day at most (where the SQL database is exact too);
  and ``uniqCombined64(12)`` (``sketch``: exact up to a few hundred visitors, then a
  HyperLogLog of 2^12 cells, 1.6% standard error), read for longer ranges, where the SQL
  database merges HyperLogLog sketches (within 3.3% 95 times in 100) and exact states, or
  larger sketches, would cost time in proportion to the period's visitors.

The reports read them for the whole hours of a range and the raw rows for the rest (its
edges, and an hour a local midnight cuts in a zone offset by part of an hour).

Counts are signed: rows deleted from the raw tables afterwards (a transaction of the writer
that failed) are taken off by inserting their counts negated; an hour's visitor states are
made again from the raw visits left (``forget_visits``).

An installation made before these tables gets them from the same setup, with the raw rows it
holds added once (``ensure``): the views count what is inserted from the moment they exist,
the setup adds the raw rows received before the hour preceding that moment, and until the
hour after it the reports read that stretch raw (``HourlyState``). That is exact unless a row
reaches ClickHouse more than an hour after it was received (the writer inserts a group within
its request).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from leadline.clickhouse.client import ClickHouse
from leadline.clickhouse.schema import DIMENSIONS

HOUR = timedelta(hours=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# A visitor as the reports count them: a visitor id of a site.
VISITOR = "(CAST(site_id, 'String'), visitor_id)"
_PAIRS = (
    "[('total', ''), " + ", ".join(f"('{name}', toString({name}))" for name in DIMENSIONS) + "]"
)

_EVENTS_SELECT = (
    "SELECT workspace_id, site_id, toDateTime(toStartOfHour(received_at), 'UTC') AS hour,"
    " type, path, {sign}toInt64(count()) AS events FROM events WHERE bot = 0{more}"
    " GROUP BY workspace_id, site_id, hour, type, path"
)
_VISITS_SELECT = (
    "SELECT workspace_id, site_id, toDateTime(toStartOfHour(started_at), 'UTC') AS hour,"  # noqa: S608
    " pair.1 AS dimension, pair.2 AS value, {sign}toInt64(count()) AS visits"
    f" FROM visits ARRAY JOIN {_PAIRS} AS pair"
    " WHERE bot = 0 AND (pair.2 != '' OR pair.1 = 'total'){more}"
    " GROUP BY workspace_id, site_id, hour, dimension, value"
)
_VISITORS_SELECT = (
    "SELECT workspace_id, site_id, toDateTime(toStartOfHour(started_at), 'UTC') AS hour,"  # noqa: S608
    f" uniqExactState({VISITOR}) AS visitors, uniqCombined64State(12)({VISITOR}) AS sketch"
    " FROM visits"
    " WHERE bot = 0 AND visitor_id != ''{more} GROUP BY workspace_id, site_id, hour"
)

TABLES = (
    """CREATE TABLE IF NOT EXISTS events_hourly (
    workspace_id LowCardinality(String),
    site_id LowCardinality(String),
    hour DateTime('UTC'),
    type LowCardinality(String),
    path String,
    events Int64
) ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (site_id, hour, workspace_id, type, path)""",
    """CREATE TABLE IF NOT EXISTS visits_hourly (
    workspace_id LowCardinality(String),
    site_id LowCardinality(String),
    hour DateTime('UTC'),
    dimension LowCardinality(String),
    value String,
    visits Int64
) ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (site_id, hour, workspace_id, dimension, value)""",
    """CREATE TABLE IF NOT EXISTS visitors_hourly (
    workspace_id LowCardinality(String),
    site_id LowCardinality(String),
    hour DateTime('UTC'),
    visitors AggregateFunction(uniqExact, Tuple(String, String)),
    sketch AggregateFunction(uniqCombined64(12), Tuple(String, String))
) ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (site_id, hour, workspace_id)""",
    # One row once the raw rows stored before the views are in the tables (see the module).
    """CREATE TABLE IF NOT EXISTS hourly_state (
    filled_before DateTime64(3, 'UTC'),
    complete_from DateTime64(3, 'UTC')
) ENGINE = MergeTree ORDER BY tuple()""",
)
VIEWS = (
    "CREATE MATERIALIZED VIEW IF NOT EXISTS events_hourly_view TO events_hourly AS "
    + _EVENTS_SELECT.format(sign="", more=""),
    "CREATE MATERIALIZED VIEW IF NOT EXISTS visits_hourly_view TO visits_hourly AS "
    + _VISITS_SELECT.format(sign="", more=""),
    "CREATE MATERIALIZED VIEW IF NOT EXISTS visitors_hourly_view TO visitors_hourly AS "
    + _VISITORS_SELECT.format(more=""),
)
AGGREGATES = ("events_hourly", "visits_hourly", "visitors_hourly")
# Made by the one process that adds the raw rows (a CREATE without IF NOT EXISTS: the others
# find it there and leave the filling to it).
_FILLING = "hourly_filling"


@dataclass(frozen=True)
class HourlyState:
    """Where the hourly tables hold every raw row: hours before ``filled_before`` and from
    ``complete_from`` on. ``None`` (not filled yet): nowhere, the reports read raw."""

    filled_before: datetime
    complete_from: datetime

    def whole(self, hour: datetime) -> bool:
        return hour + HOUR <= self.filled_before or hour >= self.complete_from


_STATES: weakref.WeakKeyDictionary[ClickHouse, HourlyState] = weakref.WeakKeyDictionary()


def state(client: ClickHouse) -> HourlyState | None:
    """The tables' state, read once per client when they are filled."""
    found = _STATES.get(client)
    if found is None:
        rows = client.query("SELECT filled_before, complete_from FROM hourly_state LIMIT 1")
        if not rows:
            return None
        found = HourlyState(*(_aware(moment) for moment in rows[0]))
        _STATES[client] = found
    return found


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def ensure(client: ClickHouse) -> None:
    """Make the hourly tables and their views where missing, and add the raw rows stored
    before them once (idempotent; run by every process's setup)."""
    _STATES.pop(client, None)
    for statement in (*TABLES, *VIEWS):
        client.command(statement)
    ((filled,),) = client.query("SELECT count() FROM hourly_state")
    if filled:
        return
    if not _claim(client):
        return  # another process is adding them
    ((now, stored),) = client.query(
        "SELECT now64(3, 'UTC'), (SELECT count() FROM events) + (SELECT count() FROM visits)"
    )
    if not stored:
        # Every row ever inserted went through the views.
        filled_before = complete_from = _EPOCH
    else:
        hour = _aware(now).replace(minute=0, second=0, microsecond=0)
        filled_before, complete_from = hour - HOUR, hour + HOUR
        until = {"until": int(filled_before.timestamp())}
        for table, select, column in (
            ("events_hourly", _EVENTS_SELECT, "received_at"),
            ("visits_hourly", _VISITS_SELECT, "started_at"),
            ("visitors_hourly", _VISITORS_SELECT, "started_at"),
        ):
            more = f" AND {column} < toDateTime({{until:Int64}}, 'UTC')"
            client.command(
                f"INSERT INTO {table} " + select.format(sign="", more=more),
                until,
            )
    client.insert(
        "hourly_state", ("filled_before", "complete_from"), [(filled_before, complete_from)]
    )


def _claim(client: ClickHouse) -> bool:
    from clickhouse_connect.driver.exceptions import DatabaseError

    try:
        client.command(f"CREATE TABLE {_FILLING} (at UInt8) ENGINE = MergeTree ORDER BY tuple()")
    except DatabaseError:
        ((there,),) = client.query(
            "SELECT count() FROM system.tables WHERE database = currentDatabase()"
            " AND name = {name:String}",
            {"name": _FILLING},
        )
        if there:
            return False
        raise
    return True


def drop(client: ClickHouse) -> None:
    """Drop the hourly tables, their views and their state (the bench; a fresh fill)."""
    _STATES.pop(client, None)
    for name in ("events_hourly_view", "visits_hourly_view", "visitors_hourly_view"):
        client.command(f"DROP VIEW IF EXISTS {name}")
    for name in (*AGGREGATES, "hourly_state", _FILLING):
        client.command(f"DROP TABLE IF EXISTS {name}")


# ---------------------------------------------------------------------------- deleting rows


def forget_events(client: ClickHouse, where: str, parameters: dict[str, Any]) -> None:
    """Take off the hourly counts the events ``where`` selects, before they are deleted."""
    client.command(
        "INSERT INTO events_hourly " + _EVENTS_SELECT.format(sign="-", more=f" AND ({where})"),
        parameters,
    )


def forget_visits(client: ClickHouse, where: str, parameters: dict[str, Any]) -> list[Any]:
    """Take off the hourly counts the visit starts ``where`` selects, before they are
    deleted; returns the (site, hour) whose visitors ``visitors_again`` makes again once they
    are."""
    client.command(
        "INSERT INTO visits_hourly " + _VISITS_SELECT.format(sign="-", more=f" AND ({where})"),
        parameters,
    )
    return client.query(
        "SELECT DISTINCT CAST(site_id, 'String'), toUnixTimestamp(toStartOfHour(started_at))"  # noqa: S608
        f" FROM visits WHERE bot = 0 AND visitor_id != '' AND ({where})",
        parameters,
    )


def visitors_again(client: ClickHouse, hours: list[Any]) -> None:
    """Make the visitor states of these (site, hour) again from the raw visits (after some
    were deleted): a state cannot be taken from. A visitor inserted meanwhile is in both the
    state made again and its own, which counts it once all the same."""
    if not hours:
        return
    params = {
        "sites": [site for site, _ in hours],
        "hours": [int(hour) for _, hour in hours],
        "first": min(int(hour) for _, hour in hours),
        "last": max(int(hour) for _, hour in hours),
    }
    pairs = (
        "(SELECT tupleElement(p, 1), tupleElement(p, 2) FROM"
        " (SELECT arrayJoin(arrayZip({sites:Array(String)}, {hours:Array(Int64)})) AS p))"
    )
    client.command(
        "DELETE FROM visitors_hourly WHERE site_id IN {sites:Array(String)}"  # noqa: S608
        " AND hour >= toDateTime({first:Int64}, 'UTC') AND hour <= toDateTime({last:Int64}, 'UTC')"
        f" AND (CAST(site_id, 'String'), toInt64(toUnixTimestamp(hour))) IN {pairs}",
        params,
    )
    more = (
        " AND site_id IN {sites:Array(String)}"
        " AND started_at >= toDateTime({first:Int64}, 'UTC')"
        " AND started_at < toDateTime({last:Int64}, 'UTC') + INTERVAL 1 HOUR"
        " AND (CAST(site_id, 'String'), toInt64(toUnixTimestamp(toStartOfHour(started_at))))"
        f" IN {pairs}"
    )
    client.command(
        "INSERT INTO visitors_hourly " + _VISITORS_SELECT.format(more=more),
        params,
    )
