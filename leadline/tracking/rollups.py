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

import itertools
import time as time_module
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from leadline.kit.distinct import merged, sketch_of, sketch_with
from leadline.tracking.counts import BOUNCE, SCORE, SCORE_SUM
from leadline.tracking.rollup_repository import Counts, KeptDay, RollupRepository, VisitFigures

__all__ = [
    "BOUNCE",
    "SCORE",
    "SCORE_SUM",
    "Counts",
    "DayCounts",
    "Storage",
    "Top",
    "VisitFigures",
]

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


def _reads_of(start: datetime, end: datetime) -> tuple[list[date], list[tuple[datetime, datetime]]]:
    """The whole UTC days and the ranges of edge hours the rollups of ``start`` to ``end``
    are read from."""
    reads = span(start, end)
    days = [reads.first_day + DAY * n for n in range((reads.end_day - reads.first_day).days)]
    return days, [(low, high) for low, high in reads.edges if low < high]


@dataclass(slots=True)
class Top:
    """The values of a dimension with the largest counts, largest first, and the count of
    all its values together."""

    values: list[tuple[str, int]]
    whole: int


async def top_values(
    session: AsyncSession,
    workspace_id: str,
    site_ids: Sequence[str],
    dimensions: Sequence[str],
    field: str,
    start: datetime,
    end: datetime,
    limit: int,
) -> dict[str, Top]:
    """Per dimension of ``dimensions``, the ``limit`` values whose ``field`` (``visits``,
    ``page_views``, ``events``) counts most from ``start`` to ``end`` (read as
    ``counts_by_value`` reads them), those counting zero left out, ties in code point order
    of the value, and the count of all the dimension's values; summed, ranked and cut by the
    database."""
    days, hours = _reads_of(start, end)
    found = await RollupRepository(session).top_values(
        workspace_id, site_ids, dimensions, field, days, hours, limit
    )
    return {
        dimension: Top(*found[dimension]) if dimension in found else Top([], 0)
        for dimension in dimensions
    }


async def counts_of_values(
    session: AsyncSession,
    workspace_id: str,
    site_ids: Sequence[str],
    wanted: Mapping[str, Sequence[str]],
    field: str,
    start: datetime,
    end: datetime,
    whole: bool = False,
) -> dict[str, Top]:
    """Per dimension of ``wanted``, what ``field`` counts from ``start`` to ``end`` for each
    of its values in ``wanted`` (those that count nothing left out), and with ``whole`` the
    count of all its values (else 0)."""
    days, hours = _reads_of(start, end)
    found = await RollupRepository(session).sums_of_values(
        workspace_id, site_ids, wanted, field, days, hours, whole
    )
    result = {}
    for dimension in wanted:
        sums, total = found.get(dimension, ({}, 0))
        result[dimension] = Top(list(sums.items()), total)
    return result


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


def _utc_day_of(low: datetime, high: datetime) -> date:
    """The UTC day that overlaps ``low`` to ``high`` (a zone's day, 23 to 25 hours) most;
    of two that overlap it as much (a zone 12 hours from UTC), the later."""
    candidates = [low.date() + DAY * n for n in range(3)]

    def overlap(day: date) -> timedelta:
        start = datetime.combine(day, time.min, tzinfo=UTC)
        return min(high, start + DAY) - max(low, start)

    return max(candidates, key=lambda day: (overlap(day), day))


async def counts_by_day(
    session: AsyncSession,
    workspace_id: str,
    site_ids: Sequence[str],
    days: Sequence[date],
    tz: ZoneInfo,
) -> list[DayCounts]:
    """The ``total`` counts of each of ``days`` (consecutive) in zone ``tz``: each UTC hour
    goes to the day whose hour-floored bounds hold it. A day is read as the daily row of
    the UTC day that overlaps it most, less the hourly rows of that UTC day's hours outside
    it, plus those of its hours outside that UTC day: about one daily row a day and, for a
    zone k hours from UTC, min(k, 24 - k) hours at each of its ends (none in UTC), in a
    statement for the days and one for the hours. Exact because the writer and the rebuild
    keep a day's daily row the sum of its hourly rows (``tests/analytics/test_traffic.py``
    holds them to it); days from before the hourly rows were kept read as their UTC day."""
    if not days:
        return []
    bounds = [
        floor_hour(datetime.combine(day, time.min, tzinfo=tz)) for day in [*days, days[-1] + DAY]
    ]
    # Per day: its UTC day (None for a day of no hours), and the ranges of hours to add (+1)
    # or take away (-1), each range numbered once (a range between two days is taken away
    # from one and added to the other).
    plans: list[tuple[date | None, list[tuple[int, int]]]] = []
    ranges: dict[tuple[datetime, datetime], int] = {}
    for low, high in itertools.pairwise(bounds):
        if high <= low:
            plans.append((None, []))
            continue
        utc_day = _utc_day_of(low, high)
        start = datetime.combine(utc_day, time.min, tzinfo=UTC)
        stop = start + DAY
        changes = []
        for first, end, sign in (
            (start, low, -1),
            (low, start, 1),
            (high, stop, -1),
            (stop, high, 1),
        ):
            if first < end:
                changes.append((ranges.setdefault((first, end), len(ranges)), sign))
        plans.append((utc_day, changes))
    utc_days = sorted({utc_day for utc_day, _ in plans if utc_day is not None})
    wanted = [first + HOUR * n for first, end in ranges for n in range(int((end - first) / HOUR))]
    found, hours = await RollupRepository(session).totals_of_days_and_hours(
        workspace_id, site_ids, utc_days, wanted
    )
    sums = []
    for first, end in ranges:
        counts = Counts()
        for n in range(int((end - first) / HOUR)):
            counted = hours.get(first + HOUR * n)
            if counted is not None:
                counts.add(counted)
        sums.append(counts)
    result = []
    for day, (read_day, changes) in zip(days, plans, strict=True):
        counts = Counts()
        if read_day is not None and read_day in found:
            counts.add(found[read_day])
        for index, sign in changes:
            counts.visits += sign * sums[index].visits
            counts.page_views += sign * sums[index].page_views
            counts.events += sign * sums[index].events
        result.append(DayCounts(day, counts))
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
# A day not yet over is kept as far as its visits are settled, and moved on once that is this
# much further: a report reads only the visits started since (ADR 0011).
MOVE_ON = timedelta(minutes=10)

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
    with a sketch of their ids to merge. Days kept in ``visitor_days`` are read from it; a day
    kept in part is counted on from where it was kept; the others are counted from the visits
    of those days (a read per day, of ``visitor_ids``: the SQL database's visits unless
    given). A day is kept once over, and in part while it goes on (from the SQL database's
    visits only, which the counting on reads)."""
    if not days or not site_ids:
        return {}
    repository = RollupRepository(session)
    stored = await repository.visitor_days(workspace_id, site_ids, tz.key, days[0], days[-1])
    found = {
        key: (kept.visitors, kept.sketch)
        for key, kept in stored.items()
        if kept.counted_until is None
    }
    partly = {key: kept for key, kept in stored.items() if kept.counted_until is not None}
    if partly:
        found.update(await _counted_on(repository, workspace_id, partly, tz, now))
    missing = {(site_id, day) for site_id in site_ids for day in days} - stored.keys()
    if missing:
        found.update(
            await _counted(
                repository,
                workspace_id,
                missing,
                tz,
                now,
                visitor_ids or repository.visitor_ids,
                in_part=visitor_ids is None,
            )
        )
    return found


async def _counted(
    repository: RollupRepository,
    workspace_id: str,
    missing: set[tuple[str, date]],
    tz: ZoneInfo,
    now: datetime,
    visitor_ids: VisitorIds,
    *,
    in_part: bool,
) -> dict[tuple[str, date], tuple[int, bytes]]:
    """The days not kept, counted from their visits a day at a time (a day's ids are all that
    is held at once: at a hundred million events a day has about 90,000 visitors); kept whole
    when over, else (``in_part``) as far as their visits are settled."""
    settled_at = now - SETTLED
    sites_of: dict[date, list[str]] = {}
    for site_id, day in missing:
        sites_of.setdefault(day, []).append(site_id)
    found: dict[tuple[str, date], tuple[int, bytes]] = {}
    kept = []
    for day, day_sites in sorted(sites_of.items()):
        midnight, end = _midnight(day, tz), _midnight(day + DAY, tz)
        ids: dict[str, set[str]] = {site_id: set() for site_id in day_sites}
        early: dict[str, set[str]] = {site_id: set() for site_id in day_sites}
        async for site_id, started, visitor_id in visitor_ids(
            workspace_id, sorted(day_sites), midnight, end
        ):
            seen = ids.get(site_id)
            if seen is not None:
                seen.add(visitor_id)
                if started < settled_at:
                    early[site_id].add(visitor_id)
        for site_id, seen in sorted(ids.items()):
            figures = found[(site_id, day)] = (len(seen), sketch_of(seen))
            row = {"site_id": site_id, "zone": tz.key, "day": day, "workspace_id": workspace_id}
            if end <= settled_at:
                kept.append(
                    {**row, "visitors": figures[0], "sketch": figures[1], "counted_until": None}
                )
            elif in_part and midnight < settled_at:
                counted = early[site_id]
                kept.append(
                    {
                        **row,
                        "visitors": len(counted),
                        "sketch": sketch_of(counted),
                        "counted_until": settled_at,
                    }
                )
    if kept:
        await repository.keep_visitor_days(kept)
    return found


async def _counted_on(
    repository: RollupRepository,
    workspace_id: str,
    partly: dict[tuple[str, date], KeptDay],
    tz: ZoneInfo,
    now: datetime,
) -> dict[tuple[str, date], tuple[int, bytes]]:
    """The days kept in part, counted on from where they were kept: only the visitors first
    seen since are read. A day is kept further (or whole, once over) when that is worth a
    write."""
    settled_at = now - SETTLED
    groups: dict[tuple[date, datetime], list[str]] = {}
    for (site_id, day), kept in partly.items():
        assert kept.counted_until is not None
        groups.setdefault((day, kept.counted_until), []).append(site_id)
    found: dict[tuple[str, date], tuple[int, bytes]] = {}
    moves = []
    for (day, since), site_ids in sorted(groups.items()):
        end = _midnight(day + DAY, tz)
        newcomers: dict[str, list[tuple[str, datetime]]] = {site_id: [] for site_id in site_ids}
        async for site_id, visitor_id, first in repository.new_visitors(
            workspace_id, sorted(site_ids), _midnight(day, tz), since, end
        ):
            newcomers[site_id].append((visitor_id, first))
        over = end <= settled_at
        move_on = over or settled_at - since >= MOVE_ON
        for site_id, new in newcomers.items():
            kept = partly[(site_id, day)]
            found[(site_id, day)] = (
                kept.visitors + len(new),
                sketch_with(kept.sketch, (visitor_id for visitor_id, _ in new)),
            )
            if not move_on:
                continue
            counted = [visitor_id for visitor_id, first in new if over or first < settled_at]
            moves.append(
                {
                    "key_site": site_id,
                    "key_zone": tz.key,
                    "key_day": day,
                    "was": since,
                    "to_visitors": kept.visitors + len(counted),
                    "to_sketch": sketch_with(kept.sketch, counted),
                    "to_until": None if over else settled_at,
                }
            )
    if moves:
        await repository.advance_visitor_days(moves)
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
