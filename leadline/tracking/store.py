"""The tracking writer's store: what it reads and writes of visits, events, rollups and
visitors, through stdlib ``sqlite3`` (``tracking.store_sqlite``) or synchronous psycopg
(``tracking.store_postgres``) on the writer's own thread and connection, with no ORM in the way
(a small transaction costs tens of microseconds this way, milliseconds through the async ORM).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import msgspec

from leadline.models import CONSENT_FIELDS, Visit


@dataclass
class VisitState:
    """A visit as the writer reads and changes it. ``columns`` holds the attribution and the
    rest of what a visit started in the current transaction is inserted with; it is None for
    a visit read from the database."""

    id: str
    workspace_id: str
    site_id: str
    visitor_id: str | None
    started_at: datetime
    last_seen_at: datetime
    ended_at: datetime | None
    events: int
    page_views: int
    clicks: int
    max_scroll: int
    duration_ms: int
    earlier_visits: int
    bot_reason: str | None
    engagement_score: int = 0
    engagement_label: str = "Cold"
    revision: int = 0
    columns: dict[str, Any] | None = None
    dirty: bool = False
    # The (score, bounced) the visit's row holds, which the rollups count it under
    # (``counts.score_moves``); None until its row is inserted.
    stored: tuple[int, bool] | None = None
    # The rollup dimensions a visit started in the current transaction counts under
    # (``StartWork.dimensions``); None for a visit read from the database.
    dimensions: dict[str, str] | None = None
    # The visit's consent now, the flags known (those it started with, as its ledger's
    # changes left them); None until the writer needs it for a visit read from the database
    # (``TrackingStore.visit_consent``).
    consent: dict[str, bool] | None = None


@dataclass(slots=True)
class VisitorHistory:
    """A visitor's visits on a site so far, and when the latest of them started."""

    visits: int
    latest_start: datetime | None


@dataclass(slots=True)
class VisitorTouch:
    """What a transaction adds to a visitor's record."""

    site_id: str
    visitor_id: str
    workspace_id: str
    identified: bool
    first_seen_at: datetime
    last_seen_at: datetime
    visits: int
    first_touch: str | None = None
    first_touch_at: datetime | None = None
    last_touch: str | None = None
    last_touch_at: datetime | None = None


@dataclass(slots=True)
class DailyCount:
    """What a transaction adds to one row of ``tracking_daily``."""

    site_id: str
    workspace_id: str
    day: date
    dimension: str
    value: str
    visits: int = 0
    visitors: int = 0
    page_views: int = 0
    events: int = 0
    # The UTC hour of the row of ``tracking_hourly`` when not the transaction's own (a visit
    # moved between engagement scores counts at the hour it started).
    hour: datetime | None = None


class EventRow(msgspec.Struct, array_like=True, gc=False):
    """An event as the writer inserts it, its fields in the order of ``EVENT_COLUMNS``.
    Encoded as an array, so that the PostgreSQL
    store sends a group's rows as one JSON array of arrays as they are; it holds only text and
    times, so the cyclic collector need not track it. ``client_id`` is empty until the writer
    names an event the browser sent without an id (``EventsWork.unnamed``)."""

    workspace_id: str
    site_id: str
    visit_id: str
    client_id: str
    type: str
    occurred_at: datetime
    received_at: datetime
    url: str | None
    data: str


@dataclass(slots=True)
class ConsentRow:
    """An entry of the consent ledger as the writer inserts it (``CONSENT_COLUMNS`` order)."""

    id: str
    workspace_id: str
    site_id: str
    visit_id: str
    visitor_id: str | None
    source: str
    flags: str
    occurred_at: datetime


CONSENT_COLUMNS = (
    "id",
    "workspace_id",
    "site_id",
    "visit_id",
    "visitor_id",
    "source",
    "flags",
    "occurred_at",
)


_VISIT_STATE = (
    "id, workspace_id, site_id, visitor_id, started_at, last_seen_at, ended_at, events,"
    " page_views, clicks, max_scroll, duration_ms, earlier_visits, bot_reason,"
    " engagement_score, engagement_label, revision"
)
# The columns of an event row, in the order of EventRow's fields.
EVENT_COLUMNS = (
    "workspace_id",
    "site_id",
    "visit_id",
    "client_id",
    "type",
    "occurred_at",
    "received_at",
    "url",
    "data",
)
EVENT_COLUMN_LIST = ", ".join(EVENT_COLUMNS)


_VISIT_COLUMNS = tuple(column.name for column in Visit.__table__.columns)
COUNTERS = (
    "last_seen_at",
    "ended_at",
    "events",
    "page_views",
    "clicks",
    "max_scroll",
    "duration_ms",
    "engagement_score",
    "engagement_label",
)
_IN_CHUNK = 500


DAILY_NAMES = (
    "site_id",
    "day",
    "dimension",
    "value",
    "workspace_id",
    "visits",
    "visitors",
    "page_views",
    "events",
)
DAILY_COLUMN_LIST = ", ".join(DAILY_NAMES)
DAILY_ADD = (
    "ON CONFLICT (site_id, day, dimension, value) DO UPDATE SET"
    " visits = tracking_daily.visits + excluded.visits,"
    " visitors = tracking_daily.visitors + excluded.visitors,"
    " page_views = tracking_daily.page_views + excluded.page_views,"
    " events = tracking_daily.events + excluded.events"
)


HOURLY_NAMES = (
    "site_id",
    "dimension",
    "hour",
    "value",
    "workspace_id",
    "visits",
    "page_views",
    "events",
)
HOURLY_COLUMN_LIST = ", ".join(HOURLY_NAMES)
HOURLY_ADD = (
    "ON CONFLICT (site_id, dimension, hour, value) DO UPDATE SET"
    " visits = tracking_hourly.visits + excluded.visits,"
    " page_views = tracking_hourly.page_views + excluded.page_views,"
    " events = tracking_hourly.events + excluded.events"
)


class GroupConflict(Exception):
    """What a group counted on did not hold: a visit the writer remembered was changed by
    another writer, or an event it took for new was stored already. The transaction is rolled
    back and the group applied again from what the database holds. (A store may report it as
    another error of its driver: ``TrackingStore.conflicted`` tells.)"""


class TrackingStore:
    """The statements both databases share; each subclass binds them to its driver.

    Statements are written with ``?`` placeholders. Those built with f-strings (noqa: S608)
    only join this module's own column names and placeholders; values always travel as
    parameters."""

    lock_rows = ""
    # Whether the writer may leave a visit's row unwritten for a while under load, keeping
    # what its events added in ``visit_counts`` (add_counts) until a later transaction writes
    # the row (drop_counts). ``writer_key`` names this writer's rows there.
    defers = False
    writer_key = 0

    def __init__(self, connection: Any) -> None:
        self.connection = connection

    # ---- driver specifics

    def sql(self, statement: str) -> str:
        return statement

    def value(self, value: Any) -> Any:
        return value

    def begin(self) -> None:
        raise NotImplementedError

    def commit(self) -> None:
        raise NotImplementedError

    def rollback(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.connection.close()

    def conflicted(self, error: BaseException) -> bool:
        """Whether the error says that what the group counted on did not hold."""
        return isinstance(error, GroupConflict)

    def insert_events(
        self, rows: Sequence[EventRow], *, all_new: bool = False
    ) -> set[tuple[str, str]] | None:
        """Insert events, skipping any their visit already has (same browser event id);
        returns None when every one was inserted, else the (visit id, event id) of those
        that were. With ``all_new`` the caller counts on every event being new: a store may
        then return None before it knows, and raise GroupConflict (here or at commit) if
        some were not."""
        raise NotImplementedError

    def _fetch(self, statement: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        cursor = self.connection.execute(self.sql(statement), [self.value(p) for p in params])
        return list(cursor.fetchall())

    def _many(self, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        cursor = self.connection.cursor()
        cursor.executemany(self.sql(statement), [[self.value(v) for v in row] for row in rows])

    def _time(self, value: Any) -> Any:
        return value

    # ---- visits

    def _state(self, row: Sequence[Any]) -> VisitState:
        state = VisitState(*row)
        state.started_at = self._time(state.started_at)
        state.last_seen_at = self._time(state.last_seen_at)
        state.ended_at = self._time(state.ended_at) if state.ended_at is not None else None
        state.stored = (state.engagement_score, state.page_views == 1)
        return state

    def load_visits(self, visit_ids: Sequence[str]) -> dict[str, VisitState]:
        found: dict[str, VisitState] = {}
        for start in range(0, len(visit_ids), _IN_CHUNK):
            chunk = visit_ids[start : start + _IN_CHUNK]
            marks = ", ".join("?" * len(chunk))
            rows = self._fetch(
                f"SELECT {_VISIT_STATE} FROM visits WHERE id IN ({marks})"  # noqa: S608
                f" ORDER BY id{self.lock_rows}",
                chunk,
            )
            found.update((row[0], self._state(row)) for row in rows)
        return found

    def lock_visitors(self, visitors: Sequence[tuple[str, str]]) -> None:
        """Hold, until the transaction ends, a lock on each (site id, visitor id), so that
        of two writers about to look for the same visitor's latest visit (and start one when
        there is none) the second looks only once the first has committed. Call it before the
        transaction reads or changes anything else. Here nothing: SQLite's ``BEGIN
        IMMEDIATE`` lets one writer in at a time already."""

    def latest_visit(self, site_id: str, visitor_id: str, since: datetime) -> VisitState | None:
        """The visitor's newest visit among those seen since ``since``."""
        rows = self._fetch(
            f"SELECT {_VISIT_STATE} FROM visits"  # noqa: S608
            " WHERE site_id = ? AND visitor_id = ? AND last_seen_at >= ?"
            f" ORDER BY started_at DESC LIMIT 1{self.lock_rows}",
            (site_id, visitor_id, since),
        )
        return self._state(rows[0]) if rows else None

    def visitor_history(self, site_id: str, visitor_id: str) -> VisitorHistory:
        ((count, latest),) = self._fetch(
            "SELECT count(*), max(started_at) FROM visits WHERE site_id = ? AND visitor_id = ?",
            (site_id, visitor_id),
        )
        return VisitorHistory(int(count), self._time(latest) if latest is not None else None)

    def visit_consent(self, visit_id: str) -> dict[str, bool]:
        """A visit's consent now (the flags known): those its row started with, then what
        each of its ledger entries changed, in order. Read only when a visit the writer does
        not remember resumes."""
        rows = self._fetch(
            f"SELECT {', '.join(CONSENT_FIELDS)} FROM visits WHERE id = ?",  # noqa: S608
            (visit_id,),
        )
        flags: dict[str, bool] = {}
        if rows:
            flags.update(
                (name, bool(value))
                for name, value in zip(CONSENT_FIELDS, rows[0], strict=True)
                if value is not None
            )
        for (stated,) in self._fetch(
            "SELECT flags FROM consent_changes WHERE visit_id = ? ORDER BY occurred_at, id",
            (visit_id,),
        ):
            found = json.loads(stated or "{}")
            flags.update((name, bool(found[name])) for name in CONSENT_FIELDS if name in found)
        return flags

    def insert_consents(self, rows: Sequence[ConsentRow]) -> None:
        """Add entries to the consent ledger (changes reported by events or by a visit
        resumed with another consent)."""
        marks = ", ".join("?" * len(CONSENT_COLUMNS))
        statement = f"INSERT INTO consent_changes ({', '.join(CONSENT_COLUMNS)}) VALUES ({marks})"  # noqa: S608
        self._many(statement, [[getattr(row, name) for name in CONSENT_COLUMNS] for row in rows])

    def insert_visits(self, visits: Sequence[VisitState]) -> None:
        rows = []
        for visit in visits:
            row = {**(visit.columns or {})}
            row.update(
                id=visit.id,
                workspace_id=visit.workspace_id,
                site_id=visit.site_id,
                visitor_id=visit.visitor_id,
                started_at=visit.started_at,
                earlier_visits=visit.earlier_visits,
                revision=visit.revision,
                **{name: getattr(visit, name) for name in COUNTERS},
            )
            rows.append([row.get(name) for name in _VISIT_COLUMNS])
        marks = ", ".join("?" * len(_VISIT_COLUMNS))
        statement = f"INSERT INTO visits ({', '.join(_VISIT_COLUMNS)}) VALUES ({marks})"  # noqa: S608
        self._many(statement, rows)

    def update_visits(self, visits: Sequence[VisitState]) -> None:
        """Write the visits' counters where each visit's revision is still ``visit.revision``,
        raising it by one. When another writer changed one of them meanwhile, raises
        GroupConflict (here or at commit)."""
        assignments = ", ".join(f"{name} = ?" for name in COUNTERS)
        cursor = self.connection.cursor()
        cursor.executemany(
            self.sql(
                f"UPDATE visits SET {assignments}, revision = revision + 1"  # noqa: S608
                " WHERE id = ? AND revision = ?"
            ),
            [
                [
                    *(self.value(getattr(visit, name)) for name in COUNTERS),
                    visit.id,
                    visit.revision,
                ]
                for visit in visits
            ],
        )
        if cursor.rowcount != len(visits):
            raise GroupConflict("a visit was changed by another writer")

    # ---- counts kept apart (stores that defer)

    def add_counts(self, counts: str) -> None:
        """Store one row of ``visit_counts`` of this writer's."""
        raise NotImplementedError

    def drop_counts(self) -> None:
        """Delete this writer's rows of ``visit_counts`` (their visits are written now)."""
        raise NotImplementedError

    def take_orphan_counts(self) -> list[str]:
        """Delete the rows of ``visit_counts`` whose writers are gone (a process that
        stopped, a connection that broke) and return their ``counts``: the caller adds them
        to their visits in the same transaction."""
        return []

    # ---- rollups and visitors

    def add_daily(self, counts: Sequence[DailyCount]) -> None:
        """Add to the rollup rows; ``counts`` has one entry per row (site, day, dimension,
        value) at most."""
        self._many(
            f"INSERT INTO tracking_daily ({DAILY_COLUMN_LIST}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"  # noqa: S608
            f" {DAILY_ADD}",
            self._daily_rows(counts),
        )

    def _daily_rows(self, counts: Sequence[DailyCount]) -> list[tuple[Any, ...]]:
        return [
            (
                c.site_id,
                self._day(c.day),
                c.dimension,
                c.value,
                c.workspace_id,
                c.visits,
                c.visitors,
                c.page_views,
                c.events,
            )
            for c in counts
        ]

    def _day(self, day: date) -> Any:
        return day

    def add_hourly(self, counts: Sequence[DailyCount], hour: datetime) -> None:
        """Add the same counts to the rollup rows of the UTC ``hour`` (a group's counts all
        happen at the group's moment, so one hour takes them all), or of their own ``hour``
        where they carry one."""
        self._many(
            f"INSERT INTO tracking_hourly ({HOURLY_COLUMN_LIST}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"  # noqa: S608
            f" {HOURLY_ADD}",
            self._hourly_rows(counts, hour),
        )

    def _hourly_rows(self, counts: Sequence[DailyCount], hour: datetime) -> list[tuple[Any, ...]]:
        at = self._hour(hour)
        return [
            (
                c.site_id,
                c.dimension,
                at if c.hour is None else self._hour(c.hour),
                c.value,
                c.workspace_id,
                c.visits,
                c.page_views,
                c.events,
            )
            for c in counts
        ]

    def _hour(self, hour: datetime) -> Any:
        return hour

    def upsert_visitors(self, records: Sequence[VisitorTouch]) -> None:
        self._many(
            "INSERT INTO visitors (site_id, visitor_id, workspace_id, identified, first_seen_at,"
            " last_seen_at, visits, first_touch_at, first_touch, last_touch_at, last_touch)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (site_id, visitor_id) DO UPDATE SET"
            " last_seen_at = excluded.last_seen_at,"
            " visits = visitors.visits + excluded.visits,"
            " first_touch_at = COALESCE(visitors.first_touch_at, excluded.first_touch_at),"
            " first_touch = COALESCE(visitors.first_touch, excluded.first_touch),"
            " last_touch_at = COALESCE(excluded.last_touch_at, visitors.last_touch_at),"
            " last_touch = COALESCE(excluded.last_touch, visitors.last_touch)",
            [
                (
                    r.site_id,
                    r.visitor_id,
                    r.workspace_id,
                    r.identified,
                    r.first_seen_at,
                    r.last_seen_at,
                    r.visits,
                    r.first_touch_at,
                    r.first_touch,
                    r.last_touch_at,
                    r.last_touch,
                )
                for r in records
            ],
        )


def open_store(url: str) -> TrackingStore:
    """A store on its own connection to the database at ``url`` (a synchronous URL)."""
    # Imported here: each driver's store builds on this module.
    if url.startswith("sqlite"):
        from leadline.tracking.store_sqlite import SqliteStore

        return SqliteStore.open(url)
    from leadline.tracking.store_postgres import PostgresStore

    return PostgresStore.open(url)
