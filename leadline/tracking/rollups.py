"""What the traffic reports ask of tracking: counts of a range of a zone's days from the
rollups (visits, page views, events, and the visits per engagement score and the bounces as
the visits' rows stand), the unique visitors, the last minutes' visits and events, and what
tracking's tables hold.

A range of a zone's days is read as whole UTC days from ``tracking_daily`` and the hours at
either edge from ``tracking_hourly``, so a 30-day report reads about 30 rows per value plus at
most 46 hours' rows, however many events there were. The range's bounds are taken to the UTC
hour they fall in (``floor_hour``): exact for every zone a whole number of hours from UTC; in
a zone offset by 30 or 45 minutes (India, Nepal, parts of Australia, Newfoundland, Chatham)
the counts of the hour a day starts in go to that day. See docs/adr/0008-analytics-rollups.md.
"""

from __future__ import annotations

import bisect
import time as time_module
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from leadline.kit.distinct import merged, sketch_of
from leadline.tracking.counts import BOUNCE, SCORE, SCORE_SUM
from leadline.tracking.rollup_repository import Counts, RollupRepository, VisitFigures

__all__ = ["BOUNCE", "SCORE", "SCORE_SUM", "Counts", "DayCounts", "Storage", "VisitFigures"]

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def floor_hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


@dataclass(frozen=True, slots=True)
class Span:
    """A range of UTC time read from the rollups: whole UTC days ``first_day`` to
    ``end_day`` (excluded; none when equal) and the hours around them."""

    start: datetime
    end: datetime
    first_day: date
    end_day: date

    @property
    def edges(self) -> list[tuple[datetime, datetime]]:
        if self.first_day >= self.end_day:
            return [(self.start, self.end)]
        inner_start = datetime.combine(self.first_day, time.min, tzinfo=UTC)
        inner_end = datetime.combine(self.end_day, time.min, tzinfo=UTC)
        return [(self.start, inner_start), (inner_end, self.end)]


def span(start: datetime, end: datetime) -> Span:
    """The rollup reads of ``start`` to ``end``, each taken to its UTC hour."""
    low, high = floor_hour(start), floor_hour(end)
    first_day = low.date() if low.hour == 0 else low.date() + DAY
    end_day = high.date()
    if first_day > end_day:
        first_day = end_day
    return Span(low, high, first_day, end_day)


async def counts_by_value(
    session: AsyncSession,
    workspace_id: str,
    site_ids: Sequence[str],
    dimension: str,
    start: datetime,
    end: datetime,
) -> dict[str, Counts]:
    """Visits (at their start), page views and events per value of a rollup dimension
    (``total``, ``page``, ``country``, ``referrer``, ``channel``, ``source``, ``platform``,
    ``event``, ...) from ``start`` to ``end``; people's only (bots are counted apart)."""
    repository = RollupRepository(session)
    reads = span(start, end)
    found = await repository.daily_by_value(
        workspace_id, site_ids, dimension, reads.first_day, reads.end_day
    )
    for low, high in reads.edges:
        for value, counts in (
            await repository.hourly_by_value(workspace_id, site_ids, dimension, low, high)
        ).items():
            found.setdefault(value, Counts()).add(counts)
    return found


async def counts_by_values(
    session: AsyncSession,
    workspace_id: str,
    site_ids: Sequence[str],
    dimensions: Sequence[str],
    ranges: Sequence[tuple[datetime, datetime]],
) -> list[dict[str, dict[str, Counts]]]:
    """What ``counts_by_value`` gives, for several dimensions and several ranges (a period
    and the one before) in one read: per range, per dimension, per value."""
    days: list[tuple[int, date, date]] = []
    hours: list[tuple[int, datetime, datetime]] = []
    for part, (start, end) in enumerate(ranges):
        reads = span(start, end)
        days.append((part, reads.first_day, reads.end_day))
        hours.extend((part, low, high) for low, high in reads.edges)
    found: list[dict[str, dict[str, Counts]]] = [
        {dimension: {} for dimension in dimensions} for _ in ranges
    ]
    for part, dimension, value, counts in await RollupRepository(session).by_parts(
        workspace_id, site_ids, dimensions, days, hours
    ):
        found[part][dimension].setdefault(value, Counts()).add(counts)
    return found


async def totals(
    session: AsyncSession,
    workspace_id: str,
    site_ids: Sequence[str],
    start: datetime,
    end: datetime,
) -> Counts:
    found = await counts_by_value(session, workspace_id, site_ids, "total", start, end)
    return found.get("", Counts())


@dataclass(slots=True)
class DayCounts:
    day: date
    counts: Counts


async def counts_by_day(
    session: AsyncSession,
    workspace_id: str,
    site_ids: Sequence[str],
    days: Sequence[date],
    tz: ZoneInfo,
) -> list[DayCounts]:
    """The ``total`` counts of each of ``days`` (consecutive) in zone ``tz``, from the hourly
    rollups: each UTC hour goes to the day whose hour-floored bounds hold it."""
    if not days:
        return []
    bounds = [
        floor_hour(datetime.combine(day, time.min, tzinfo=tz)) for day in [*days, days[-1] + DAY]
    ]
    result = [DayCounts(day, Counts()) for day in days]
    hours = await RollupRepository(session).hourly_totals(
        workspace_id, site_ids, bounds[0], bounds[-1]
    )
    for hour, counts in hours:
        index = bisect.bisect_right(bounds, hour.astimezone(UTC)) - 1
        if 0 <= index < len(result):
            result[index].counts.add(counts)
    return result


def classes_of(found: dict[str, dict[str, Counts]]) -> dict[int, int]:
    """The people's visits per score class (its lowest score, ``counts.SCORE_CLASSES``) of
    what ``counts_by_values`` read of the ``score`` dimension: each visit as its row stands
    now (the writer moves a visit between the ``score`` rows of the hour it started in as its
    score crosses a class, ``counts.score_moves``)."""
    return {
        int(value): counts.visits for value, counts in found.get(SCORE, {}).items() if counts.visits
    }


def score_sum_of(found: dict[str, dict[str, Counts]]) -> int:
    """The sum of the visits' scores, from what was read of the ``score_sum`` dimension."""
    return found.get(SCORE_SUM, {}).get("", Counts()).visits


def visit_figures_of(found: dict[str, dict[str, Counts]]) -> VisitFigures:
    """How many people's visits, how many bounced, and their engagement scores' sum, from
    what ``counts_by_values`` read of the ``score``, ``score_sum`` and ``bounce``
    dimensions."""
    return VisitFigures(
        visits=sum(classes_of(found).values()),
        bounces=found.get(BOUNCE, {}).get("", Counts()).visits,
        engagement_sum=score_sum_of(found),
    )


# A zone's day is kept in ``visitor_days`` once it has been over this long: a visit is stored
# within a second or two of its start.
SETTLED = timedelta(minutes=5)

# Where the visitor ids of days not kept are read: called with (workspace, sites, start, end),
# it yields (site, started at, visitor id) of the people's visits started from ``start`` to
# ``end`` that have a visitor id (``RollupRepository.visitor_ids``; ClickHouse's,
# ``clickhouse_repository.visitor_ids``, when it keeps the events). A visitor may come once
# per day instead of once per visit: only the distinct ids of a day are kept.
VisitorIds = Callable[
    [str, Sequence[str], datetime, datetime], AsyncIterator[tuple[str, datetime, str]]
]


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time.min, tzinfo=tz).astimezone(UTC)


def settled(day: date, tz: ZoneInfo, now: datetime) -> bool:
    """Whether the zone's ``day`` has been over for ``SETTLED`` at ``now``: what
    ``visitor_days`` keeps."""
    return _midnight(day + DAY, tz) <= now - SETTLED


async def visitor_days(
    session: AsyncSession,
    workspace_id: str,
    site_ids: Sequence[str],
    days: Sequence[date],
    tz: ZoneInfo,
    now: datetime,
    *,
    visitor_ids: VisitorIds | None = None,
) -> dict[tuple[str, date], tuple[int, bytes]]:
    """Each site's distinct visitors on each of ``days`` (consecutive) of zone ``tz``, exact,
    with a sketch of their ids to merge. Days kept in ``visitor_days`` are read from it; the
    others are counted from the visits of those days (one read, of ``visitor_ids``: the SQL
    database's visits unless given), and kept when over."""
    if not days or not site_ids:
        return {}
    repository = RollupRepository(session)
    found = await repository.visitor_days(workspace_id, site_ids, tz.key, days[0], days[-1])
    missing = {(site_id, day) for site_id in site_ids for day in days} - found.keys()
    if not missing:
        return found
    first = min(day for _, day in missing)
    last = max(day for _, day in missing)
    ids: dict[tuple[str, date], set[str]] = {key: set() for key in missing}
    async for site_id, started, visitor_id in (visitor_ids or repository.visitor_ids)(
        workspace_id,
        sorted({site_id for site_id, _ in missing}),
        _midnight(first, tz),
        _midnight(last + DAY, tz),
    ):
        seen = ids.get((site_id, started.astimezone(tz).date()))
        if seen is not None:
            seen.add(visitor_id)
    kept = []
    for (site_id, day), seen in sorted(ids.items()):
        figures = found[(site_id, day)] = (len(seen), sketch_of(seen))
        if _midnight(day + DAY, tz) <= now - SETTLED:
            kept.append(
                {
                    "site_id": site_id,
                    "zone": tz.key,
                    "day": day,
                    "workspace_id": workspace_id,
                    "visitors": figures[0],
                    "sketch": figures[1],
                }
            )
    if kept:
        await repository.keep_visitor_days(kept)
    return found


async def visitors_by_day(
    session: AsyncSession,
    workspace_id: str,
    site_ids: Sequence[str],
    days: Sequence[date],
    tz: ZoneInfo,
    now: datetime,
    *,
    visitor_ids: VisitorIds | None = None,
) -> dict[date, int]:
    """Distinct visitors on each of ``days`` of zone ``tz``, exact: a visitor id belongs to
    one site (``tracking/identity.py``), so the sites' counts add up."""
    found: dict[date, int] = {}
    for (_, day), (visitors, _) in (
        await visitor_days(session, workspace_id, site_ids, days, tz, now, visitor_ids=visitor_ids)
    ).items():
        found[day] = found.get(day, 0) + visitors
    return found


async def visitors_of_periods(
    session: AsyncSession,
    workspace_id: str,
    site_ids: Sequence[str],
    periods: Sequence[Sequence[date]],
    tz: ZoneInfo,
    now: datetime,
    *,
    visitor_ids: VisitorIds | None = None,
) -> list[int]:
    """Distinct visitors of each of ``periods`` (days of zone ``tz``; together consecutive),
    in one read: exact for a single day, else merged from the days' sketches (within 3.3%
    95 times in 100, see ``kit/distinct.py``)."""
    every = sorted({day for days in periods for day in days})
    found = await visitor_days(
        session, workspace_id, site_ids, every, tz, now, visitor_ids=visitor_ids
    )
    counted = []
    for days in periods:
        wanted = set(days)
        figures = [figures for (_, day), figures in found.items() if day in wanted]
        if len(days) == 1:
            counted.append(sum(visitors for visitors, _ in figures))
        else:
            counted.append(merged(sketch for visitors, sketch in figures if visitors))
    return counted


async def active_visits(
    session: AsyncSession,
    workspace_id: str,
    site_ids: Sequence[str],
    seen_from: datetime,
    seen_until: datetime,
    longest: timedelta = timedelta(hours=24),
) -> int:
    """People's visits seen from ``seen_from`` to ``seen_until``; a visit started more than
    ``longest`` before is not looked for (it bounds the read)."""
    return await RollupRepository(session).active_visits(
        workspace_id, site_ids, seen_from - longest, seen_from, seen_until
    )


async def events_by_minute(
    session: AsyncSession,
    workspace_id: str,
    site_ids: Sequence[str],
    start: datetime,
    end: datetime,
) -> dict[str, int]:
    return await RollupRepository(session).events_by_minute(workspace_id, site_ids, start, end)


@dataclass(slots=True)
class Storage:
    rows: dict[str, int]
    bytes: dict[str, int] | None
    database_bytes: int | None
    method: str
    oldest_event: datetime | None
    oldest_visit: datetime | None


async def storage(session: AsyncSession, workspace_id: str, site_ids: Sequence[str]) -> Storage:
    """The workspace's rows in tracking's tables, the tables' sizes, and its oldest event
    and visit."""
    repository = RollupRepository(session)
    rows = await repository.rows_of_workspace(workspace_id, site_ids)
    sizes, database_bytes, method = await _table_bytes(session, repository)
    oldest_event, oldest_visit = await repository.oldest(workspace_id, site_ids)
    return Storage(rows, sizes, database_bytes, method, oldest_event, oldest_visit)


# Tables' bytes that took longer than SLOW_BYTES to measure (SQLite's ``dbstat`` walks every
# page of a table: a second for a million events) are kept this long, per database.
BYTES_KEPT = timedelta(minutes=10)
SLOW_BYTES = timedelta(milliseconds=50)
_measured: dict[str, tuple[float, tuple[dict[str, int] | None, int | None, str]]] = {}


async def _table_bytes(
    session: AsyncSession, repository: RollupRepository
) -> tuple[dict[str, int] | None, int | None, str]:
    bind = session.get_bind()
    database = str(bind.engine.url)
    kept = _measured.get(database)
    if kept is not None and time_module.monotonic() - kept[0] < BYTES_KEPT.total_seconds():
        return kept[1]
    started = time_module.monotonic()
    found = await repository.table_bytes()
    if time_module.monotonic() - started > SLOW_BYTES.total_seconds():
        _measured[database] = (time_module.monotonic(), found)
    return found
