"""The rollups of a site rebuilt from its raw visits and events: for data the tracking writer
stored before it kept hourly rollups (an upgrade), or loaded behind its back. What it counts is
what the writer counts (``tracking.groups``): a visit at its start under ``total`` and each of
its dimensions (visitors on a visitor's first visit of the UTC day) and under its engagement
score class, score and bounce as its row stands (``score``, ``score_sum``, ``bounce``), a
bot's visit under
``bot`` only, page views and events when they were stored, by type and by path, but those of
bots' visits. Raw events past their retention are gone: rebuild only days they still cover.

With ClickHouse keeping the events (docs/clickhouse.md) the writer still keeps the rollups in
the SQL database (the engagement report, bounces and billing read them), so they are rebuilt
there as ever, the events counted from ClickHouse's (pass its client).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from leadline.clickhouse.client import ClickHouse
from leadline.errors import ValidationFailed
from leadline.tracking import clickhouse_repository
from leadline.tracking.attribution import channel_of, rollup_dimensions
from leadline.tracking.counts import BOUNCE, SCORE, SCORE_SUM, score_class
from leadline.tracking.prepare import page_path
from leadline.tracking.rollup_repository import RebuildRepository

_Key = tuple[datetime, str, str]


@dataclass(slots=True)
class _Row:
    visits: int = 0
    visitors: int = 0
    page_views: int = 0
    events: int = 0


@dataclass(frozen=True, slots=True)
class Rebuilt:
    days: int
    visits: int
    events: int


def _path(url: str | None) -> str:
    try:
        return page_path(url)
    except ValidationFailed:
        return "/"


class _Counts:
    def __init__(self) -> None:
        self.hours: dict[_Key, _Row] = {}
        self.seen: set[tuple[str, date]] = set()

    def add(
        self,
        moment: datetime,
        dimension: str,
        value: str,
        *,
        visits: int = 0,
        visitors: int = 0,
        page_views: int = 0,
        events: int = 0,
    ) -> None:
        hour = moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        row = self.hours.get((hour, dimension, value))
        if row is None:
            row = self.hours[(hour, dimension, value)] = _Row()
        row.visits += visits
        row.visitors += visitors
        row.page_views += page_views
        row.events += events

    def days(self) -> dict[tuple[date, str, str], _Row]:
        found: dict[tuple[date, str, str], _Row] = {}
        for (hour, dimension, value), row in self.hours.items():
            day = found.setdefault((hour.date(), dimension, value), _Row())
            day.visits += row.visits
            day.visitors += row.visitors
            day.page_views += row.page_views
            day.events += row.events
        return found


async def rebuild_site(
    session: AsyncSession,
    workspace_id: str,
    site_id: str,
    domains: list[str],
    first: date,
    end: date,
    clickhouse: ClickHouse | None = None,
) -> Rebuilt:
    """Replace the site's daily and hourly rollups of the UTC days ``first`` to ``end``
    (excluded) with what its raw visits and events of those days say (its events in
    ``clickhouse`` when it keeps them). ``domains``: the site's own, which no referrer counts
    under."""
    repository = RebuildRepository(session)
    start = datetime.combine(first, time.min, tzinfo=UTC)
    stop = datetime.combine(end, time.min, tzinfo=UTC)
    counts = _Counts()
    visits = events = 0
    async for visit in repository.visits(site_id, start, stop):
        visits += 1
        started = visit["started_at"]
        started = started if started.tzinfo else started.replace(tzinfo=UTC)
        if visit["bot_reason"]:
            counts.add(started, "bot", visit["bot_reason"], visits=1)
            continue
        day_of_visitor = (visit["visitor_id"] or "", started.astimezone(UTC).date())
        first_today = visit["visitor_id"] is not None and day_of_visitor not in counts.seen
        counts.seen.add(day_of_visitor)
        referrer = visit["referrer"] or ""
        columns = {**visit, "channel": visit["channel"] or channel_of(visit, referrer, domains)}
        try:
            dimensions = rollup_dimensions(columns, referrer, domains)
        except ValidationFailed:  # a referrer stored before it was checked
            dimensions = rollup_dimensions(columns, "", domains)
        seen = int(first_today)
        counts.add(started, "total", "", visits=1, visitors=seen)
        # As its row stands now: the writer moves it as the row changes (counts.score_moves).
        score = visit["engagement_score"]
        counts.add(started, SCORE, str(score_class(score)), visits=1)
        if score:
            counts.add(started, SCORE_SUM, "", visits=score)
        if visit["page_views"] == 1:
            counts.add(started, BOUNCE, "", visits=1)
        for dimension, value in dimensions.items():
            counts.add(started, dimension, value, visits=1, visitors=seen)
    found = (
        repository.events(site_id, start, stop)
        if clickhouse is None
        else _clickhouse_events(clickhouse, workspace_id, site_id, start, stop)
    )
    async for received, kind, url in found:
        events += 1
        page_view = int(kind == "page_view")
        counts.add(received, "total", "", page_views=page_view, events=1)
        counts.add(received, "event", kind[:512], events=1)
        if page_view:
            counts.add(received, "page", _path(url), page_views=1)
    await repository.delete_rollups(site_id, first, end)
    # Visitor days are kept as reports read them (their visits may have changed): made again
    # when next read.
    await repository.forget_visitor_days(site_id, first, end)
    common = {"site_id": site_id, "workspace_id": workspace_id}
    await repository.insert_daily(
        [
            {**common, "day": day, "dimension": dimension, "value": value, **_fields(row, True)}
            for (day, dimension, value), row in sorted(counts.days().items())
        ]
    )
    await repository.insert_hourly(
        [
            {**common, "hour": hour, "dimension": dimension, "value": value, **_fields(row, False)}
            for (hour, dimension, value), row in sorted(counts.hours.items())
        ]
    )
    return Rebuilt(days=(end - first).days, visits=visits, events=events)


# Events read from ClickHouse at a time.
_PAGE = 10_000


async def _clickhouse_events(
    clickhouse: ClickHouse, workspace_id: str, site_id: str, start: datetime, stop: datetime
) -> AsyncIterator[tuple[datetime, str, str | None]]:
    """(stored at, type, url) of the site's events in ClickHouse stored from ``start`` to
    ``stop``, but those of visits taken for bots, a page at a time."""
    after: clickhouse_repository.EventKeyset = None
    while True:
        rows = await clickhouse_repository.events_page(
            clickhouse, workspace_id, site_id, start, stop, after, _PAGE, humans=True
        )
        for _id, _site, _visit, kind, _occurred, received, url, _data in rows:
            yield received, kind, url
        if len(rows) < _PAGE:
            return
        last = rows[-1]
        after = (last[5], (last[2], last[0]))


def _fields(row: _Row, daily: bool) -> dict[str, int]:
    fields = {"visits": row.visits, "page_views": row.page_views, "events": row.events}
    if daily:
        fields["visitors"] = row.visitors
    return fields


def days_between(start: datetime, end: datetime) -> tuple[date, date]:
    """The UTC days that hold ``start`` to ``end``: the first, and the day after the last."""
    last = (end - timedelta(microseconds=1)).astimezone(UTC).date()
    return start.astimezone(UTC).date(), last + timedelta(days=1)
