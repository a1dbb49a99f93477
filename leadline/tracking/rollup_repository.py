"""The SQL the traffic reports read from tracking's tables: the daily and hourly rollups, the
visits of a period (unique visitors, bounces, engagement), what happened in the last minutes,
and what the tables hold. Every statement is scoped to a workspace and its sites."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    bindparam,
    case,
    delete,
    func,
    insert,
    literal,
    null,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import aliased

from leadline.db import Repository
from leadline.models import (
    CLICK_ID_FIELDS,
    TrackedEvent,
    TrackingDaily,
    TrackingHourly,
    Visit,
    Visitor,
    VisitorDay,
)


@dataclass(slots=True)
class Counts:
    """What the rollups counted: visits (at their start), page views and events."""

    visits: int = 0
    page_views: int = 0
    events: int = 0

    def add(self, other: Counts) -> None:
        self.visits += other.visits
        self.page_views += other.page_views
        self.events += other.events


@dataclass(slots=True)
class VisitFigures:
    """What the visits started in a period say as their rows stand: how many (people's, not
    bots'), how many bounced (one page view), and their engagement scores' sum."""

    visits: int
    bounces: int
    engagement_sum: int


# What a rebuild reads of a visit: its attribution and what it counts under.
REBUILD_VISIT_COLUMNS = (
    "id",
    "started_at",
    "visitor_id",
    "bot_reason",
    "referrer",
    "channel",
    "utm_source",
    "utm_campaign",
    "path",
    "country",
    "browser",
    "os",
    "device",
    "engagement_score",
    "page_views",
    *CLICK_ID_FIELDS,
)
_CHUNK = 1_000


@dataclass(frozen=True, slots=True)
class KeptDay:
    """A ``visitor_days`` row: a site's distinct visitors of a zone's day and their sketch, of
    the whole day, or of its visits started before ``counted_until`` when that is set."""

    visitors: int
    sketch: bytes
    counted_until: datetime | None = None


# The tables the storage report shows, each with the column its workspace is found by.
STORED_TABLES = ("events", "visits", "visitors", "tracking_daily", "tracking_hourly")
# The storage report counts a table's rows of a workspace exactly below this many, and
# estimates them above (looking at SAMPLE_ROWS rowids of the table on SQLite).
EXACT_BELOW = 10_000
SAMPLE_ROWS = 2_000


def _of_workspace(model: Any, workspace_id: str) -> Any:
    """The workspace's rows of a rollup, tested on each row the primary key finds rather than
    looked up in the workspace's index: SQLite otherwise reads every row the workspace has
    (all its days and dimensions) through that index when several sites are asked for. The
    sites asked for are the workspace's own; this keeps the scope without leading the plan."""
    return func.coalesce(model.workspace_id, "") == workspace_id


def _sums(model: Any) -> tuple[Any, ...]:
    return (
        func.coalesce(func.sum(model.visits), 0),
        func.coalesce(func.sum(model.page_views), 0),
        func.coalesce(func.sum(model.events), 0),
    )


def _counts(row: Sequence[Any]) -> Counts:
    return Counts(int(row[0]), int(row[1]), int(row[2]))


class RollupRepository(Repository):
    @property
    def dialect(self) -> str:
        return self.session.get_bind().dialect.name

    # ---- rollups

    async def daily_by_value(
        self, workspace_id: str, site_ids: Sequence[str], dimension: str, first: date, end: date
    ) -> dict[str, Counts]:
        """Counts per value of ``dimension`` on the UTC days ``first`` to ``end`` (excluded)."""
        if not site_ids or first >= end:
            return {}
        rows = await self.session.execute(
            select(TrackingDaily.value, *_sums(TrackingDaily))
            .where(
                _of_workspace(TrackingDaily, workspace_id),
                TrackingDaily.site_id.in_(site_ids),
                TrackingDaily.day >= first,
                TrackingDaily.day < end,
                TrackingDaily.dimension == dimension,
            )
            .group_by(TrackingDaily.value)
        )
        return {str(row[0]): _counts(row[1:]) for row in rows}

    async def hourly_by_value(
        self,
        workspace_id: str,
        site_ids: Sequence[str],
        dimension: str,
        start: datetime,
        end: datetime,
    ) -> dict[str, Counts]:
        """Counts per value of ``dimension`` in the UTC hours from ``start`` to ``end``
        (excluded), read along the primary key (site, dimension, hour)."""
        if not site_ids or start >= end:
            return {}
        rows = await self.session.execute(
            select(TrackingHourly.value, *_sums(TrackingHourly))
            .where(
                _of_workspace(TrackingHourly, workspace_id),
                TrackingHourly.site_id.in_(site_ids),
                TrackingHourly.dimension == dimension,
                TrackingHourly.hour >= start,
                TrackingHourly.hour < end,
            )
            .group_by(TrackingHourly.value)
        )
        return {str(row[0]): _counts(row[1:]) for row in rows}

    async def by_parts(
        self,
        workspace_id: str,
        site_ids: Sequence[str],
        dimensions: Sequence[str],
        days: Sequence[tuple[int, date, date]],
        hours: Sequence[tuple[int, datetime, datetime]],
    ) -> list[tuple[int, str, str, Counts]]:
        """(part, dimension, value, counts) of ``dimensions`` over several ranges at once,
        in one statement: each range of UTC days (``first`` to ``end``, excluded) of
        ``days`` and of UTC hours of ``hours`` is read along its primary key and summed
        under its ``part``, for the caller to add up."""
        if not site_ids or not dimensions:
            return []
        reads: list[Any] = []
        for part, first, end in days:
            if first < end:
                reads.append(
                    select(
                        literal(part).label("part"),
                        TrackingDaily.dimension,
                        TrackingDaily.value,
                        *_sums(TrackingDaily),
                    )
                    .where(
                        _of_workspace(TrackingDaily, workspace_id),
                        TrackingDaily.site_id.in_(site_ids),
                        TrackingDaily.day >= first,
                        TrackingDaily.day < end,
                        TrackingDaily.dimension.in_(dimensions),
                    )
                    .group_by(TrackingDaily.dimension, TrackingDaily.value)
                )
        for part, start, end in hours:
            if start < end:
                reads.append(
                    select(
                        literal(part).label("part"),
                        TrackingHourly.dimension,
                        TrackingHourly.value,
                        *_sums(TrackingHourly),
                    )
                    .where(
                        _of_workspace(TrackingHourly, workspace_id),
                        TrackingHourly.site_id.in_(site_ids),
                        TrackingHourly.dimension.in_(dimensions),
                        TrackingHourly.hour >= start,
                        TrackingHourly.hour < end,
                    )
                    .group_by(TrackingHourly.dimension, TrackingHourly.value)
                )
        if not reads:
            return []
        statement: Any = union_all(*reads) if len(reads) > 1 else reads[0]
        rows: Any = await self.session.execute(statement)
        return [(int(row[0]), str(row[1]), str(row[2]), _counts(row[3:])) for row in rows]

    def _scope(self, model: Any, workspace_id: str) -> Any:
        """The workspace's rows: as ``_of_workspace`` on SQLite; on PostgreSQL by the column
        itself, whose statistics the planner knows (it takes an expression's equality to
        hold for one row in two hundred, and so misjudges how many rows a read returns)."""
        if self.dialect == "sqlite":
            return _of_workspace(model, workspace_id)
        return model.workspace_id == workspace_id

    def _rows_of(
        self,
        workspace_id: str,
        site_ids: Sequence[str],
        dimensions: Sequence[str],
        field: str,
        days: Sequence[date],
        hours: Sequence[tuple[datetime, datetime]],
        values: Sequence[str] | None = None,
    ) -> Any:
        """A subquery of (dimension, value, n) of the rows of ``dimensions`` on the UTC days
        ``days`` (each looked up along the primary key, site, day, dimension) and in the
        ranges of UTC hours ``hours``, ``n`` their ``field``; of ``values`` only, if given."""
        reads: list[Any] = []
        if days:
            daily = [
                self._scope(TrackingDaily, workspace_id),
                TrackingDaily.site_id.in_(site_ids),
                TrackingDaily.day.in_(days),
                TrackingDaily.dimension.in_(dimensions),
            ]
            if values is not None:
                daily.append(TrackingDaily.value.in_(values))
            reads.append(
                select(
                    TrackingDaily.dimension.label("dimension"),
                    TrackingDaily.value.label("value"),
                    getattr(TrackingDaily, field).label("n"),
                ).where(*daily)
            )
        for start, end in hours:
            hourly = [
                self._scope(TrackingHourly, workspace_id),
                TrackingHourly.site_id.in_(site_ids),
                TrackingHourly.dimension.in_(dimensions),
                TrackingHourly.hour >= start,
                TrackingHourly.hour < end,
            ]
            if values is not None:
                hourly.append(TrackingHourly.value.in_(values))
            reads.append(
                select(
                    TrackingHourly.dimension.label("dimension"),
                    TrackingHourly.value.label("value"),
                    getattr(TrackingHourly, field).label("n"),
                ).where(*hourly)
            )
        statement: Any = union_all(*reads) if len(reads) > 1 else reads[0]
        return statement.subquery()

    async def top_values(
        self,
        workspace_id: str,
        site_ids: Sequence[str],
        dimensions: Sequence[str],
        field: str,
        days: Sequence[date],
        hours: Sequence[tuple[datetime, datetime]],
        limit: int,
    ) -> dict[str, tuple[list[tuple[str, int]], int]]:
        """Per dimension of ``dimensions``, its ``limit`` values of the largest sums of
        ``field`` (``visits``, ``page_views``, ``events``) over the UTC days ``days`` and the
        ranges of UTC hours ``hours``, those summing to zero left out, the largest first and
        values of equal sums in code point order (the order of Python's ``sorted``); and the
        sum over all its values. Summed, ranked and cut by the database, in one statement."""
        if not site_ids or not dimensions or (not days and not hours):
            return {}
        rows = self._rows_of(workspace_id, site_ids, dimensions, field, days, hours)
        total = func.sum(rows.c.n)
        # Code point order: SQLite compares text as bytes (UTF-8) by default; PostgreSQL by
        # the database's collation unless told to compare bytes ("C").
        value = rows.c.value if self.dialect == "sqlite" else rows.c.value.collate("C")
        ranked = (
            select(
                rows.c.dimension,
                rows.c.value,
                total.label("total"),
                func.sum(total).over(partition_by=rows.c.dimension).label("whole"),
                func.row_number()
                .over(partition_by=rows.c.dimension, order_by=(total.desc(), value))
                .label("rank"),
            )
            .group_by(rows.c.dimension, rows.c.value)
            .having(total != 0)
            .subquery()
        )
        found: dict[str, tuple[list[tuple[str, int]], int]] = {}
        for dimension, name, count, whole in await self.session.execute(
            select(ranked.c.dimension, ranked.c.value, ranked.c.total, ranked.c.whole)
            .where(ranked.c.rank <= limit)
            .order_by(ranked.c.dimension, ranked.c.rank)
        ):
            top, _ = found.setdefault(str(dimension), ([], int(whole)))
            top.append((str(name), int(count)))
        return found

    async def sums_of_values(
        self,
        workspace_id: str,
        site_ids: Sequence[str],
        wanted: Mapping[str, Sequence[str]],
        field: str,
        days: Sequence[date],
        hours: Sequence[tuple[datetime, datetime]],
        whole: bool = False,
    ) -> dict[str, tuple[dict[str, int], int]]:
        """Per dimension of ``wanted``, the sums of ``field`` of its values in ``wanted`` over
        the UTC days ``days`` and the ranges of UTC hours ``hours``, in one statement; with
        ``whole``, also the sum over all its values (else 0). SQLite looks up the rows of the
        values wanted along the primary keys (the value is their last column); PostgreSQL
        reads the dimensions' rows and sums those of other values as one: told the values,
        its planner expects a handful of rows and scans the whole daily table for them."""
        dimensions = [dimension for dimension, values in wanted.items() if values or whole]
        if not site_ids or not dimensions or (not days and not hours):
            return {}
        every = sorted({value for values in wanted.values() for value in values})
        looked_up = None if whole or self.dialect != "sqlite" else every
        rows = self._rows_of(workspace_id, site_ids, dimensions, field, days, hours, looked_up)
        # Values not wanted are summed as one (a NULL value): they count in the whole only.
        value: Any = case((rows.c.value.in_(every), rows.c.value), else_=null())
        found: dict[str, tuple[dict[str, int], int]] = {}
        for dimension, name, count in await self.session.execute(
            select(rows.c.dimension, value.label("value"), func.sum(rows.c.n)).group_by(
                rows.c.dimension, value
            )
        ):
            sums, total = found.get(str(dimension), ({}, 0))
            if name is not None and name in wanted.get(str(dimension), ()):
                sums[str(name)] = int(count)
            found[str(dimension)] = (sums, total + int(count) if whole else 0)
        return found

    async def totals_of_days_and_hours(
        self,
        workspace_id: str,
        site_ids: Sequence[str],
        days: Sequence[date],
        hours: Sequence[datetime],
    ) -> tuple[dict[date, Counts], dict[datetime, Counts]]:
        """The ``total`` counts of each UTC day of ``days`` and of each UTC hour of ``hours``
        that has any: each day looked up along ``tracking_daily``'s primary key (site, day,
        dimension; a range of days would walk every dimension's rows of those days), each
        hour along ``tracking_hourly``'s (site, dimension, hour), by its value as the writer
        and the rebuild store it (on SQLite, text of one form). Two statements: PostgreSQL
        runs the two reads of one in parallel workers, whose start costs more than both."""
        by_day: dict[date, Counts] = {}
        by_hour: dict[datetime, Counts] = {}
        if not site_ids:
            return by_day, by_hour
        if days:
            rows = await self.session.execute(
                select(TrackingDaily.day, *_sums(TrackingDaily))
                .where(
                    _of_workspace(TrackingDaily, workspace_id),
                    TrackingDaily.site_id.in_(site_ids),
                    TrackingDaily.day.in_(days),
                    TrackingDaily.dimension == "total",
                )
                .group_by(TrackingDaily.day)
            )
            for day, *sums in rows:
                key = day if isinstance(day, date) else date.fromisoformat(str(day))
                by_day[key] = _counts(sums)
        if hours:
            rows = await self.session.execute(
                select(TrackingHourly.hour, *_sums(TrackingHourly))
                .where(
                    _of_workspace(TrackingHourly, workspace_id),
                    TrackingHourly.site_id.in_(site_ids),
                    TrackingHourly.dimension == "total",
                    TrackingHourly.hour.in_(hours),
                )
                .group_by(TrackingHourly.hour)
            )
            for hour, *sums in rows:
                by_hour[_aware(hour).astimezone(UTC)] = _counts(sums)
        return by_day, by_hour

    # ---- visits of a period (along ix_visits_site_started)

    def _visits_in(
        self, workspace_id: str, site_ids: Sequence[str], start: datetime, end: datetime
    ) -> list[ColumnElement[bool]]:
        return [
            Visit.site_id.in_(site_ids),
            Visit.started_at >= start,
            Visit.started_at < end,
            Visit.workspace_id == workspace_id,
            Visit.bot_reason.is_(None),
        ]

    async def visitor_days(
        self, workspace_id: str, site_ids: Sequence[str], zone: str, first: date, last: date
    ) -> dict[tuple[str, date], KeptDay]:
        """The kept visitor days of the sites in ``zone`` from ``first`` to ``last``, along the
        primary key; a day kept in part has its ``counted_until``."""
        if not site_ids:
            return {}
        rows = await self.session.execute(
            select(
                VisitorDay.site_id,
                VisitorDay.day,
                VisitorDay.visitors,
                VisitorDay.sketch,
                VisitorDay.counted_until,
            ).where(
                VisitorDay.site_id.in_(site_ids),
                VisitorDay.zone == zone,
                VisitorDay.day >= first,
                VisitorDay.day <= last,
                _of_workspace(VisitorDay, workspace_id),
            )
        )
        found: dict[tuple[str, date], KeptDay] = {}
        for site_id, day, visitors, sketch, until in rows:
            key = day if isinstance(day, date) else date.fromisoformat(str(day))
            found[(str(site_id), key)] = KeptDay(int(visitors), bytes(sketch), until)
        return found

    async def new_visitors(
        self,
        workspace_id: str,
        site_ids: Sequence[str],
        midnight: datetime,
        since: datetime,
        end: datetime,
    ) -> AsyncIterator[tuple[str, str, datetime]]:
        """(site, visitor id, first start) of the visitors whose people's visits of the day
        from ``midnight`` to ``end`` all started at ``since`` or later: those a day kept as far
        as ``since`` has not counted. Each is looked up among the day's earlier visits along
        ix_visits_site_visitor_started."""
        earlier = aliased(Visit)
        seen_before = (
            select(literal(1))
            .where(
                earlier.site_id == Visit.site_id,
                earlier.visitor_id == Visit.visitor_id,
                earlier.started_at >= midnight,
                earlier.started_at < since,
                earlier.bot_reason.is_(None),
            )
            .exists()
        )
        result = await self.session.stream(
            select(Visit.site_id, Visit.visitor_id, func.min(Visit.started_at))
            .where(
                *self._visits_in(workspace_id, site_ids, since, end),
                Visit.visitor_id.is_not(None),
                ~seen_before,
            )
            .group_by(Visit.site_id, Visit.visitor_id)
            .execution_options(yield_per=10 * _CHUNK)
        )
        async for site_id, visitor_id, first in result:
            yield str(site_id), str(visitor_id), _aware(first)

    async def visitor_ids(
        self, workspace_id: str, site_ids: Sequence[str], start: datetime, end: datetime
    ) -> AsyncIterator[tuple[str, datetime, str]]:
        """(site, started at, visitor id) of the people's visits started from ``start`` to
        ``end`` that have a visitor id."""
        result = await self.session.stream(
            select(Visit.site_id, Visit.started_at, Visit.visitor_id)
            .where(
                *self._visits_in(workspace_id, site_ids, start, end),
                Visit.visitor_id.is_not(None),
            )
            .execution_options(yield_per=10 * _CHUNK)
        )
        async for site_id, started, visitor_id in result:
            yield str(site_id), _aware(started), str(visitor_id)

    async def keep_visitor_days(self, rows: Sequence[dict[str, Any]]) -> bool:
        """Store visitor days; one another report stored meanwhile is left as it is. Returns
        False when the database would not take them now (SQLite refuses a write to a read
        transaction whose snapshot another connection wrote after, and the tracking writer
        writes all the time): they are only a store of counts, made again when next read."""
        statement: Any = (
            sqlite_insert(VisitorDay) if self.dialect == "sqlite" else pg_insert(VisitorDay)
        )
        statement = statement.on_conflict_do_nothing(index_elements=["site_id", "zone", "day"])
        try:
            async with self.session.begin_nested():
                for start in range(0, len(rows), _CHUNK):
                    await self.session.execute(statement, list(rows[start : start + _CHUNK]))
        except DBAPIError:
            return False
        return True

    async def advance_visitor_days(self, rows: Sequence[dict[str, Any]]) -> bool:
        """Move kept days on (``key_site``, ``key_zone``, ``key_day``; to ``to_visitors``,
        ``to_sketch``, ``to_until``), each only if it is still kept as far as ``was``: a report
        that moved it meanwhile wins. Returns False
        when the database would not take the writes now, as ``keep_visitor_days``."""
        statement = (
            update(VisitorDay)
            .where(
                VisitorDay.site_id == bindparam("key_site"),
                VisitorDay.zone == bindparam("key_zone"),
                VisitorDay.day == bindparam("key_day"),
                VisitorDay.counted_until == bindparam("was"),
            )
            .values(
                visitors=bindparam("to_visitors"),
                sketch=bindparam("to_sketch"),
                counted_until=bindparam("to_until"),
            )
        )
        try:
            async with self.session.begin_nested():
                connection = await self.session.connection()
                await connection.execute(statement, list(rows))
        except DBAPIError:
            return False
        return True

    # ---- the last minutes (raw visits and events, bounded in time)

    async def active_visits(
        self,
        workspace_id: str,
        site_ids: Sequence[str],
        started_after: datetime,
        seen_from: datetime,
        seen_until: datetime,
    ) -> int:
        """People's visits seen from ``seen_from`` to ``seen_until`` (excluded) among those
        started after ``started_after`` (which bounds the read of ix_visits_site_started)."""
        if not site_ids:
            return 0
        found = await self.session.scalar(
            select(func.count()).where(
                Visit.site_id.in_(site_ids),
                Visit.started_at >= started_after,
                Visit.started_at < seen_until,
                Visit.workspace_id == workspace_id,
                Visit.bot_reason.is_(None),
                Visit.last_seen_at >= seen_from,
                Visit.last_seen_at < seen_until,
            )
        )
        return int(found or 0)

    async def events_by_minute(
        self, workspace_id: str, site_ids: Sequence[str], start: datetime, end: datetime
    ) -> dict[str, int]:
        """Events stored from ``start`` to ``end`` (excluded) per minute (``YYYY-MM-DDTHH:MM``
        in UTC), along ix_events_site_received."""
        if not site_ids:
            return {}
        minute: Any
        if self.dialect == "sqlite":
            minute = func.substr(TrackedEvent.received_at, 1, 16)
        else:
            minute = func.to_char(
                func.timezone("UTC", TrackedEvent.received_at), "YYYY-MM-DD HH24:MI"
            )
        rows = await self.session.execute(
            select(minute, func.count())
            .where(
                TrackedEvent.site_id.in_(site_ids),
                TrackedEvent.received_at >= start,
                TrackedEvent.received_at < end,
                TrackedEvent.workspace_id == workspace_id,
            )
            .group_by(minute)
        )
        return {str(key).replace(" ", "T"): int(count) for key, count in rows}

    # ---- what the tables hold

    async def rows_of_workspace(self, workspace_id: str, site_ids: Sequence[str]) -> dict[str, int]:
        """Estimates of the workspace's rows in each of ``STORED_TABLES``, in about the same
        time however large the tables are (counting them read every row of the workspace):
        PostgreSQL's planner estimate of ``WHERE workspace_id = ...`` (from the statistics
        ANALYZE and autovacuum keep: the workspace's own frequency when it is among the
        column's most common values, else an average); on SQLite, a sample of
        ``SAMPLE_ROWS`` rowids spread evenly over the table's rowid range (a table's rowids
        are dense but for deleted rows): the range times the share of the sample that is the
        workspace's. Below ``EXACT_BELOW`` rows the count is exact."""
        found: dict[str, int] = {}
        for name, model in (
            ("events", TrackedEvent),
            ("visits", Visit),
            ("visitors", Visitor),
            ("tracking_daily", TrackingDaily),
            ("tracking_hourly", TrackingHourly),
        ):
            # Exact while few: at most EXACT_BELOW rows are read (events by their sites).
            scope = [model.workspace_id == workspace_id]
            if model is TrackedEvent:
                scope.insert(0, TrackedEvent.site_id.in_(site_ids))
            few = int(
                await self.session.scalar(
                    select(func.count()).select_from(
                        select(literal(1)).where(*scope).limit(EXACT_BELOW).subquery()
                    )
                )
                or 0
            )
            if few < EXACT_BELOW:
                found[name] = few
            elif self.dialect == "sqlite":
                found[name] = max(few, await self._sampled_rows(name, workspace_id))
            else:
                found[name] = max(few, await self._planned_rows(name, workspace_id))
        return found

    async def _planned_rows(self, table: str, workspace_id: str) -> int:
        plan = await self.session.scalar(
            text(
                f"EXPLAIN (FORMAT JSON) SELECT 1 FROM {table}"  # noqa: S608 (a table of ours)
                " WHERE workspace_id = :workspace"
            ),
            {"workspace": workspace_id},
        )
        if isinstance(plan, str):
            plan = json.loads(plan)
        return int(plan[0]["Plan"]["Plan Rows"]) if plan else 0

    async def _sampled_rows(self, table: str, workspace_id: str) -> int:
        # One aggregate a statement: SQLite finds each end of the rowids at once then, but
        # scans the table for both in one.
        low = await self.session.scalar(text(f"SELECT min(rowid) FROM {table}"))  # noqa: S608
        high = await self.session.scalar(text(f"SELECT max(rowid) FROM {table}"))  # noqa: S608
        if low is None or high is None:
            return 0
        span = int(high) - int(low) + 1
        step = max(1, span // SAMPLE_ROWS)
        probes = list(range(int(low), int(high) + 1, step))[:SAMPLE_ROWS]
        ours = 0
        for start in range(0, len(probes), 500):
            chunk = probes[start : start + 500]
            marks = ", ".join(str(rowid) for rowid in chunk)
            ours += int(
                await self.session.scalar(
                    text(
                        f"SELECT count(*) FROM {table}"  # noqa: S608 (our table, integers)
                        f" WHERE rowid IN ({marks}) AND workspace_id = :workspace"
                    ),
                    {"workspace": workspace_id},
                )
                or 0
            )
        return round(span * ours / len(probes))

    async def oldest(
        self, workspace_id: str, site_ids: Sequence[str]
    ) -> tuple[datetime | None, datetime | None]:
        """The oldest event (by when it was stored) and the oldest visit of the sites, one
        index lookup per site."""
        events: list[datetime] = []
        visits: list[datetime] = []
        for site_id in site_ids:
            event = await self.session.scalar(
                select(func.min(TrackedEvent.received_at)).where(
                    TrackedEvent.site_id == site_id, TrackedEvent.workspace_id == workspace_id
                )
            )
            visit = await self.session.scalar(
                select(func.min(Visit.started_at)).where(
                    Visit.site_id == site_id, Visit.workspace_id == workspace_id
                )
            )
            if event is not None:
                events.append(_aware(event))
            if visit is not None:
                visits.append(_aware(visit))
        return (min(events) if events else None, min(visits) if visits else None)

    async def table_bytes(self) -> tuple[dict[str, int] | None, int | None, str]:
        """The bytes each of ``STORED_TABLES`` takes in the database (all workspaces': a
        table's pages are not kept per tenant), with its indexes; the database's bytes; and
        how they were measured: ``pg_total_relation_size``, ``dbstat`` (SQLite's page
        statistics), or ``page_count`` when SQLite was built without ``dbstat`` (then only
        the whole file's size is known and the tables' bytes are None)."""
        if self.dialect != "sqlite":
            sizes = {}
            for name in STORED_TABLES:
                sizes[name] = int(
                    await self.session.scalar(
                        text("SELECT pg_total_relation_size(CAST(:name AS regclass))"),
                        {"name": name},
                    )
                    or 0
                )
            total = await self.session.scalar(text("SELECT pg_database_size(current_database())"))
            return sizes, int(total or 0), "pg_total_relation_size"
        pages = int(await self.session.scalar(text("PRAGMA page_count")) or 0)
        page_size = int(await self.session.scalar(text("PRAGMA page_size")) or 0)
        objects = await self.session.execute(
            text("SELECT name, tbl_name FROM sqlite_master WHERE type IN ('table', 'index')")
        )
        owners = {str(name): str(table) for name, table in objects if table in STORED_TABLES}
        measured = dict.fromkeys(STORED_TABLES, 0)
        try:
            async with self.session.begin_nested():
                # One table or index at a time, summed by SQLite (``aggregate``): the other
                # tables' pages are not walked.
                for name, table in owners.items():
                    size = await self.session.scalar(
                        text("SELECT sum(pgsize) FROM dbstat WHERE name = :name AND aggregate = 1"),
                        {"name": name},
                    )
                    measured[table] += int(size or 0)
        except DBAPIError:  # a SQLite built without the dbstat table
            return None, pages * page_size, "page_count"
        return (
            measured,
            pages * page_size,
            "dbstat",
        )


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class RebuildRepository(Repository):
    """What rebuilding a site's rollups from its raw visits and events reads and writes."""

    async def delete_rollups(self, site_id: str, first: date, end: date) -> None:
        """The site's rollup rows of the UTC days ``first`` to ``end`` (excluded)."""
        start = datetime.combine(first, datetime.min.time(), tzinfo=UTC)
        stop = datetime.combine(end, datetime.min.time(), tzinfo=UTC)
        await self.session.execute(
            delete(TrackingDaily).where(
                TrackingDaily.site_id == site_id,
                TrackingDaily.day >= first,
                TrackingDaily.day < end,
            )
        )
        await self.session.execute(
            delete(TrackingHourly).where(
                TrackingHourly.site_id == site_id,
                TrackingHourly.hour >= start,
                TrackingHourly.hour < stop,
            )
        )

    async def visits(
        self, site_id: str, start: datetime, end: datetime
    ) -> AsyncIterator[dict[str, Any]]:
        """The site's visits started from ``start`` to ``end``, oldest first."""
        columns = [getattr(Visit, name) for name in REBUILD_VISIT_COLUMNS]
        result = await self.session.stream(
            select(*columns)
            .where(Visit.site_id == site_id, Visit.started_at >= start, Visit.started_at < end)
            .order_by(Visit.started_at)
            .execution_options(yield_per=_CHUNK)
        )
        async for row in result:
            yield dict(zip(REBUILD_VISIT_COLUMNS, row, strict=True))

    async def events(
        self, site_id: str, start: datetime, end: datetime
    ) -> AsyncIterator[tuple[datetime, str, str | None]]:
        """(stored at, type, url) of the site's events stored from ``start`` to ``end``, but
        those of visits taken for bots."""
        result = await self.session.stream(
            select(TrackedEvent.received_at, TrackedEvent.type, TrackedEvent.url)
            .outerjoin(Visit, Visit.id == TrackedEvent.visit_id)
            .where(
                TrackedEvent.site_id == site_id,
                TrackedEvent.received_at >= start,
                TrackedEvent.received_at < end,
                Visit.bot_reason.is_(None),
            )
            .execution_options(yield_per=_CHUNK)
        )
        async for row in result:
            yield _aware(row[0]), str(row[1]), row[2]

    async def forget_visitor_days(self, site_id: str, first: date, end: date) -> None:
        """The site's kept visitor days that may hold the UTC days ``first`` to ``end``
        (excluded), in any zone (a zone's day is at most 14 hours from UTC's)."""
        await self.session.execute(
            delete(VisitorDay).where(
                VisitorDay.site_id == site_id,
                VisitorDay.day >= first - timedelta(days=1),
                VisitorDay.day <= end,
            )
        )

    async def insert_daily(self, rows: Sequence[dict[str, Any]]) -> None:
        for start in range(0, len(rows), _CHUNK):
            await self.session.execute(insert(TrackingDaily), list(rows[start : start + _CHUNK]))

    async def insert_hourly(self, rows: Sequence[dict[str, Any]]) -> None:
        for start in range(0, len(rows), _CHUNK):
            await self.session.execute(insert(TrackingHourly), list(rows[start : start + _CHUNK]))
