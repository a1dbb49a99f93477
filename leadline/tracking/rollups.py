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
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from leadline.tracking.counts import BOUNCE, SCORE
from leadline.tracking.rollup_repository import Counts, RollupRepository, VisitFigures

__all__ = ["Counts", "DayCounts", "Storage", "VisitFigures"]

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


async def scores(
    session: AsyncSession,
    workspace_id: str,
    site_ids: Sequence[str],
    start: datetime,
    end: datetime,
) -> dict[int, int]:
    """The people's visits started from ``start`` to ``end`` per engagement score (0-100), as
    their rows stand now: the writer moves a visit between the ``score`` rows of the hour it
    started in as its score changes (``counts.score_moves``)."""
    found = await counts_by_value(session, workspace_id, site_ids, SCORE, start, end)
    return {int(value): counts.visits for value, counts in found.items() if counts.visits}


async def visit_figures(
    session: AsyncSession,
    workspace_id: str,
    site_ids: Sequence[str],
    start: datetime,
    end: datetime,
) -> VisitFigures:
    """Of the people's visits started from ``start`` to ``end``: how many, distinct visitor
    ids, bounces, and the engagement scores' sum. All but the visitors from the ``score`` and
    ``bounce`` rollups; the visitors from the visits (see ``visitors``)."""
    by_score = await scores(session, workspace_id, site_ids, start, end)
    bounced = await counts_by_value(session, workspace_id, site_ids, BOUNCE, start, end)
    visitors = await RollupRepository(session).distinct_visitors(workspace_id, site_ids, start, end)
    return VisitFigures(
        visits=sum(by_score.values()),
        visitors=visitors,
        bounces=bounced.get("", Counts()).visits,
        engagement_sum=sum(score * count for score, count in by_score.items()),
    )


def zone_offsets(start: datetime, end: datetime, tz: ZoneInfo) -> list[tuple[datetime | None, int]]:
    """The zone's offset from UTC in minutes from ``start`` to ``end``: (until when, offset)
    for each stretch, the last one's ``until`` None."""

    def offset(moment: datetime) -> int:
        delta = moment.astimezone(tz).utcoffset() or timedelta(0)
        return int(delta.total_seconds() // 60)

    stretches: list[tuple[datetime | None, int]] = []
    current = offset(start)
    moment = start
    while moment < end:
        following = min(moment + DAY, end)
        if offset(following) != current:
            low, high = moment, following  # the change is in (low, high]
            while high - low > timedelta(minutes=1):
                middle = low + (high - low) / 2
                if offset(middle) == current:
                    low = middle
                else:
                    high = middle
            change = high.replace(second=0, microsecond=0)
            stretches.append((change, current))
            current = offset(change)
        moment = following
    stretches.append((None, current))
    return stretches


async def visitors_by_day(
    session: AsyncSession,
    workspace_id: str,
    site_ids: Sequence[str],
    start: datetime,
    end: datetime,
    tz: ZoneInfo,
) -> dict[date, int]:
    """Distinct visitor ids of each day of zone ``tz`` from ``start`` to ``end``."""
    return await RollupRepository(session).visitors_by_day(
        workspace_id, site_ids, start, end, tz.key, zone_offsets(start, end, tz)
    )


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
    sizes, database_bytes, method = await repository.table_bytes()
    oldest_event, oldest_visit = await repository.oldest(workspace_id, site_ids)
    return Storage(rows, sizes, database_bytes, method, oldest_event, oldest_visit)
