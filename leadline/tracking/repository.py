"""Every SQL statement for tracked visits, their events, the daily rollups and visitors.

The tracking writer talks to the database through ``TrackingStore``: stdlib ``sqlite3`` or
synchronous psycopg on the writer's own thread and connection, with no ORM in the way (a small
transaction costs tens of microseconds this way, milliseconds through the async ORM). The
retention job uses ``TrackingRepository`` on an ordinary ORM session.
"""

from __future__ import annotations

import contextlib
import operator
import secrets
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import msgspec
from sqlalchemy import CursorResult, Select, delete, select
from sqlalchemy.engine import make_url

from leadline.db import Repository
from leadline.models import TrackedEvent, VisitSession


class TrackingRepository(Repository):
    async def delete_events_before(self, cutoff: datetime, batch: int) -> int:
        doomed = select(TrackedEvent.id).where(TrackedEvent.received_at < cutoff).limit(batch)
        return await self._delete(doomed)

    async def delete_site_events(self, site_id: str, batch: int) -> int:
        """Up to ``batch`` events of a site; deleting a site or its workspace calls this until
        it returns 0 first (events have no foreign key to cascade along)."""
        doomed = select(TrackedEvent.id).where(TrackedEvent.site_id == site_id).limit(batch)
        return await self._delete(doomed)

    async def _delete(self, doomed: Select[Any]) -> int:
        result = await self.session.execute(
            delete(TrackedEvent).where(TrackedEvent.id.in_(doomed.scalar_subquery()))
        )
        return result.rowcount if isinstance(result, CursorResult) else 0

    async def visit(self, workspace_id: str, visit_id: str) -> VisitSession | None:
        found: VisitSession | None = await self.session.scalar(
            select(VisitSession).where(
                VisitSession.workspace_id == workspace_id, VisitSession.id == visit_id
            )
        )
        return found

    async def latest_visit_of(self, site_id: str, visitor_id: str) -> VisitSession | None:
        found: VisitSession | None = await self.session.scalar(
            select(VisitSession)
            .where(VisitSession.site_id == site_id, VisitSession.visitor_id == visitor_id)
            .order_by(VisitSession.started_at.desc())
            .limit(1)
        )
        return found


# ------------------------------------------------------------------- the writer's store


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


@dataclass
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


@dataclass(frozen=True)
class DailyCount:
    """What a transaction adds to one row of ``tracking_daily``."""

    site_id: str
    workspace_id: str
    day: date
    dimension: str
    value: str
    sessions: int
    visitors: int
    page_views: int
    events: int


_VISIT_STATE = (
    "id, workspace_id, site_id, visitor_id, started_at, last_seen_at, ended_at, events,"
    " page_views, clicks, max_scroll, duration_ms, earlier_visits, bot_reason,"
    " engagement_score, engagement_label, revision"
)
# The columns of an event row, in the order the writer's rows hold them.
EVENT_COLUMNS = (
    "workspace_id",
    "site_id",
    "session_id",
    "client_id",
    "type",
    "occurred_at",
    "received_at",
    "url",
    "data",
)
_EVENT_COLUMNS = ", ".join(EVENT_COLUMNS)


def event_time(moment: datetime) -> str:
    """An event's time as its row carries it: naive UTC text with microseconds, as SQLAlchemy
    stores times on SQLite; the PostgreSQL writer's session runs in UTC, so it reads the same
    text as the same moment."""
    if moment.tzinfo is not UTC:  # the request's own clock is UTC already: skip the conversion
        moment = moment.astimezone(UTC)
    # Times come a second at a time: the text up to the second is made once per second (a
    # third of isoformat's cost). The (second, text) pair is replaced whole, so the event
    # loop's thread and the writer's can share it.
    global _latest_second
    second = (moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second)
    latest = _latest_second
    if latest[0] != second:
        year, month, day, hour, minute, sec = second
        latest = (second, f"{year:04d}-{month:02d}-{day:02d} {hour:02d}:{minute:02d}:{sec:02d}")
        _latest_second = latest
    return f"{latest[1]}.{moment.microsecond:06d}"


_latest_second: tuple[tuple[int, ...], str] = ((), "")


_SESSION_COLUMNS = tuple(column.name for column in VisitSession.__table__.columns)
_COUNTERS = (
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


_DAILY_NAMES = (
    "site_id",
    "day",
    "dimension",
    "value",
    "workspace_id",
    "sessions",
    "visitors",
    "page_views",
    "events",
)
_DAILY_COLUMNS = ", ".join(_DAILY_NAMES)
_DAILY_ADD = (
    "ON CONFLICT (site_id, day, dimension, value) DO UPDATE SET"
    " sessions = tracking_daily.sessions + excluded.sessions,"
    " visitors = tracking_daily.visitors + excluded.visitors,"
    " page_views = tracking_daily.page_views + excluded.page_views,"
    " events = tracking_daily.events + excluded.events"
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
        self, rows: Sequence[tuple[Any, ...]], *, all_new: bool = False
    ) -> set[tuple[str, str]] | None:
        """Insert events, skipping any their visit already has (same browser event id);
        returns None when every one was inserted, else the (session id, browser id) of those
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
        return state

    def load_visits(self, session_ids: Sequence[str]) -> dict[str, VisitState]:
        found: dict[str, VisitState] = {}
        for start in range(0, len(session_ids), _IN_CHUNK):
            chunk = session_ids[start : start + _IN_CHUNK]
            marks = ", ".join("?" * len(chunk))
            rows = self._fetch(
                f"SELECT {_VISIT_STATE} FROM sessions WHERE id IN ({marks})"  # noqa: S608
                f" ORDER BY id{self.lock_rows}",
                chunk,
            )
            found.update((row[0], self._state(row)) for row in rows)
        return found

    def latest_visit(self, site_id: str, visitor_id: str, since: datetime) -> VisitState | None:
        """The visitor's newest visit among those seen since ``since``."""
        rows = self._fetch(
            f"SELECT {_VISIT_STATE} FROM sessions"  # noqa: S608
            " WHERE site_id = ? AND visitor_id = ? AND last_seen_at >= ?"
            f" ORDER BY started_at DESC LIMIT 1{self.lock_rows}",
            (site_id, visitor_id, since),
        )
        return self._state(rows[0]) if rows else None

    def visitor_history(self, site_id: str, visitor_id: str) -> tuple[int, datetime | None]:
        """How many visits the visitor has had on the site, and when the latest started."""
        ((count, latest),) = self._fetch(
            "SELECT count(*), max(started_at) FROM sessions WHERE site_id = ? AND visitor_id = ?",
            (site_id, visitor_id),
        )
        return int(count), (self._time(latest) if latest is not None else None)

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
                **{name: getattr(visit, name) for name in _COUNTERS},
            )
            rows.append([row.get(name) for name in _SESSION_COLUMNS])
        marks = ", ".join("?" * len(_SESSION_COLUMNS))
        statement = f"INSERT INTO sessions ({', '.join(_SESSION_COLUMNS)}) VALUES ({marks})"  # noqa: S608
        self._many(statement, rows)

    def update_visits(self, visits: Sequence[VisitState]) -> None:
        """Write the visits' counters where each visit's revision is still ``visit.revision``,
        raising it by one. When another writer changed one of them meanwhile, raises
        GroupConflict (here or at commit)."""
        assignments = ", ".join(f"{name} = ?" for name in _COUNTERS)
        cursor = self.connection.cursor()
        cursor.executemany(
            self.sql(
                f"UPDATE sessions SET {assignments}, revision = revision + 1"  # noqa: S608
                " WHERE id = ? AND revision = ?"
            ),
            [
                [
                    *(self.value(getattr(visit, name)) for name in _COUNTERS),
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
            f"INSERT INTO tracking_daily ({_DAILY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"  # noqa: S608
            f" {_DAILY_ADD}",
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
                c.sessions,
                c.visitors,
                c.page_views,
                c.events,
            )
            for c in counts
        ]

    def _day(self, day: date) -> Any:
        return day

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


class SqliteStore(TrackingStore):
    """stdlib sqlite3 in WAL mode; ``BEGIN IMMEDIATE`` takes the write lock up front, so what a
    transaction reads stays true until it commits, whatever other processes do."""

    # SQLite allows 32,766 parameters in one statement; 9 per event.
    EVENTS_PER_STATEMENT = 1_000

    @classmethod
    def open(cls, url: str) -> SqliteStore:
        path = make_url(url).database or ""
        connection = sqlite3.connect(
            path, isolation_level=None, check_same_thread=False, timeout=10
        )
        for pragma in (
            "journal_mode=WAL",
            "synchronous=NORMAL",
            "foreign_keys=ON",
            "busy_timeout=10000",
            # Checkpoints run beside the writer (SqliteCheckpointer), not inside its commits.
            "wal_autocheckpoint=0",
            # When the log starts over, a file grown past this is cut back to it.
            f"journal_size_limit={WAL_SIZE_LIMIT}",
        ):
            connection.execute(f"PRAGMA {pragma}")
        return cls(connection)

    def value(self, value: Any) -> Any:
        if isinstance(value, datetime):
            return event_time(value)  # as SQLAlchemy stores times
        return value

    def _time(self, value: Any) -> Any:
        if isinstance(value, str):
            return datetime.fromisoformat(value).replace(tzinfo=UTC)
        return value

    def _day(self, day: date) -> Any:
        return day.isoformat()

    def begin(self) -> None:
        self.connection.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        self.connection.execute("COMMIT")

    def rollback(self) -> None:
        if self.connection.in_transaction:
            self.connection.execute("ROLLBACK")

    def insert_events(
        self, rows: Sequence[tuple[Any, ...]], *, all_new: bool = False
    ) -> set[tuple[str, str]] | None:
        # Most events are new: insert them all at once and, only when some were there
        # already, undo that and insert again learning which ones went in.
        params = rows
        self.connection.execute("SAVEPOINT events")
        cursor = self.connection.executemany(
            f"INSERT INTO events ({_EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"  # noqa: S608
            " ON CONFLICT (client_id, session_id) DO NOTHING",
            params,
        )
        if cursor.rowcount == len(rows):
            self.connection.execute("RELEASE events")
            return None
        self.connection.execute("ROLLBACK TO events")
        self.connection.execute("RELEASE events")
        inserted: set[tuple[str, str]] = set()
        for start in range(0, len(params), self.EVENTS_PER_STATEMENT):
            chunk = params[start : start + self.EVENTS_PER_STATEMENT]
            values = ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?, ?)"] * len(chunk))
            cursor = self.connection.execute(
                f"INSERT INTO events ({_EVENT_COLUMNS}) VALUES {values}"  # noqa: S608
                " ON CONFLICT (client_id, session_id) DO NOTHING"
                " RETURNING session_id, client_id",
                [value for row in chunk for value in row],
            )
            inserted.update((str(s), str(c)) for s, c in cursor.fetchall())
        return inserted


# Bytes the write-ahead log file keeps when it starts over (see SqliteCheckpointer).
WAL_SIZE_LIMIT = 64 * 1024 * 1024


class SqliteCheckpointer:
    """Copies the write-ahead log back into the database file every ``interval`` seconds, on
    its own connection, so that the writer's commits never wait for it. Small checkpoints
    often: one that copies half a second of writes at a time holds the disk and the core long
    enough to show in the requests' tail latency. A checkpoint that readers hold up finishes
    at a later turn; the other connections of the process still checkpoint on their own
    commits as SQLite does by default.

    Under steady writes a passive checkpoint never reaches the end of the log, so the log
    never starts over and grows without bound (by hundreds of megabytes a minute at full
    load). Once it holds more than ``restart_frames`` pages, a restarting checkpoint waits
    for the writer's transaction, copies the rest and lets the next transaction write the log
    from its start; the writer's ``journal_size_limit`` then cuts the file back."""

    def __init__(
        self,
        url: str,
        interval: float = 0.1,
        restart_frames: int = 4096,
        gate: threading.Lock | None = None,
    ) -> None:
        """``gate``: a lock the writer holds for each of its transactions. The restart takes
        it, so it runs between two transactions and never waits for the writer's lock in
        SQLite's busy handler, which sleeps in steps of up to 100 ms (as does the writer's
        next ``BEGIN`` while the restart holds it): the writer waits on the gate instead,
        and goes on the moment the restart is done."""
        self.path = make_url(url).database or ""
        self.interval = interval
        self.restart_frames = restart_frames
        self.gate = gate or threading.Lock()
        self.restarts = 0

    def run(self, stop: threading.Event) -> None:
        connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            connection.execute("PRAGMA busy_timeout=1000")
            # A connection that has not read the file since it was switched to WAL (the
            # writer's own connection does it, when it opens) checkpoints nothing: -1 pages.
            connection.execute("PRAGMA journal_mode=WAL")
            while not stop.wait(self.interval):
                self.checkpoint(connection)
            connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        finally:
            connection.close()

    def checkpoint(self, connection: sqlite3.Connection) -> bool:
        """One turn; True when it made the log start over."""
        ((_, logged, _),) = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        if logged <= self.restart_frames:
            return False
        with self.gate:
            # What is left to copy is what the passive turn just now could not reach: little.
            ((busy, _, _),) = connection.execute("PRAGMA wal_checkpoint(RESTART)").fetchall()
        if busy:  # a reader of another connection held it up: the next turn tries again
            return False
        self.restarts += 1
        return True


class PostgresStore(TrackingStore):
    """Synchronous psycopg, one round trip per transaction where it can be: the statements
    that change data are held back and sent together with the commit (or with the next read)
    as one query text of several statements, their values bound on the client. Under load the
    writer's thread waits for the interpreter lock after every answer from the server, so
    each round trip costs it far more than the network does. Events and visits travel as one
    JSON array of arrays per statement (the events of a large group by COPY instead). What a group
    counts on (its events are new, its remembered visits unchanged) is checked by the
    statements themselves, which fail the transaction, and so the commit, when it does not
    hold."""

    lock_rows = " FOR UPDATE"
    defers = True
    # From this many events on, a group's events go by COPY.
    EVENTS_BY_COPY = 500

    @classmethod
    def open(cls, url: str) -> PostgresStore:
        import psycopg

        conninfo = make_url(url).set(drivername="postgresql").render_as_string(False)
        # Transactions are opened and closed by the statements sent (see begin).
        connection = psycopg.connect(conninfo, autocommit=True)
        # Event rows carry their times as naive UTC text (see event_time).
        connection.execute("SET TIME ZONE 'UTC'")
        # Literals of the query text quote as _literal does (the default since PostgreSQL
        # 9.1, made sure of).
        connection.execute("SET standard_conforming_strings = on")
        connection.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS incoming_events ({_EVENT_TYPES})"
            " ON COMMIT DELETE ROWS"
        )
        # The writer's statements are parsed, analysed and planned once per connection, not
        # for every group (that was a third of PostgreSQL's time per single event).
        for statement in _PG_PREPARED:
            connection.execute(statement.definition)
        store = cls(connection)
        # This writer's rows of visit_counts carry a key whose advisory lock its connection
        # holds for as long as it lives: a key whose lock is free is a writer that is gone.
        while True:
            key = secrets.randbelow(2**31 - 1) + 1
            ((taken,),) = connection.execute(
                "SELECT pg_try_advisory_lock(%s, %s)", (_WRITER_LOCKS, key)
            ).fetchall()
            if taken:
                store.writer_key = key
                return store

    def __init__(self, connection: Any) -> None:
        import psycopg

        super().__init__(connection)
        self._binder = psycopg.ClientCursor(connection)
        self._held: list[str] = []

    def sql(self, statement: str) -> str:
        return statement.replace("?", "%s")

    def _bind(self, statement: str, params: Sequence[Any]) -> str:
        query = self.sql(statement)
        parts = query.split("%s")
        if (
            len(parts) == len(params) + 1
            and "%%" not in query
            and all(type(p) in (str, int) for p in params)
        ):
            # The writer's own statements take text (JSON) and whole numbers: written as
            # literals here, in a few microseconds instead of the driver's tens.
            texts = [parts[0]]
            for param, part in zip(params, parts[1:], strict=True):
                texts.append(_literal(param))
                texts.append(part)
            return "".join(texts)
        return self._binder.mogrify(query, [self.value(p) for p in params])

    def _send(self, statement: str | None = None) -> Any:
        """Send what is held back, and ``statement`` after it, in one query; returns the
        cursor, on the last statement's result."""
        texts = [*self._held, statement] if statement is not None else self._held
        self._held = []
        cursor = self.connection.cursor()
        cursor.execute("; ".join(texts))
        while cursor.nextset():
            pass
        return cursor

    def begin(self) -> None:
        self._held = ["BEGIN"]

    def commit(self) -> None:
        # Nothing of the commit's query is read back: libpq runs it as it is, without the
        # driver's cursor and result handling (three quarters of the driver's time for it).
        query = "; ".join([*self._held, "COMMIT"]).encode()
        self._held = []
        result = self.connection.pgconn.exec_(query)
        if result.status != _COMMAND_OK:
            raise _failure(result)

    def rollback(self) -> None:
        self._held = []
        if self.connection.info.transaction_status != _IDLE:
            self.connection.execute("ROLLBACK")

    def _fetch(self, statement: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        return list(self._send(self._bind(statement, params)).fetchall())

    def _many(self, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        self._held.extend(self._bind(statement, row) for row in rows)

    def insert_events(
        self, rows: Sequence[tuple[Any, ...]], *, all_new: bool = False
    ) -> set[tuple[str, str]] | None:
        if len(rows) >= self.EVENTS_BY_COPY:
            # Many events cost more as one long JSON value, quoted into the query text and
            # parsed back out, than COPY into a temporary table and its two round trips.
            if self._held:
                self._send()
            cursor = self.connection.cursor()
            with cursor.copy(f"COPY incoming_events ({_EVENT_COLUMNS}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            insert, checked = _PG_EVENTS_FROM_COPY
            params: tuple[Any, ...] = ()
        else:
            insert, checked = _PG_EVENTS_FROM_JSON
            params = (_json_rows(rows),)
        if all_new:
            self._held.append(self._bind(checked.execute, (*params, len(rows))))
            return None
        found = self._fetch(insert.execute, params)
        if len(found) == len(rows):
            return None
        return {(str(s), str(c)) for s, c in found}

    def update_visits(self, visits: Sequence[VisitState]) -> None:
        records = _json_rows([_visit_row(visit) for visit in visits])
        self._held.append(self._bind(_PG_UPDATE_VISITS.execute, (records, len(visits))))

    def add_counts(self, counts: str) -> None:
        self._held.append(self._bind(_PG_ADD_COUNTS.execute, (self.writer_key, counts)))

    def drop_counts(self) -> None:
        self._held.append(self._bind(_PG_DROP_COUNTS.execute, (self.writer_key,)))

    def take_orphan_counts(self) -> list[str]:
        # Under load the table holds mostly this writer's rows (and their dead versions): a
        # look for other writers' keys on either side of its own reads a few index entries,
        # where listing the writers of every row read them all (5-10 ms a time).
        key = self.writer_key
        others = self._fetch(
            "SELECT EXISTS (SELECT FROM visit_counts WHERE writer < ?)"
            " OR EXISTS (SELECT FROM visit_counts WHERE writer > ?)",
            (key, key),
        )
        if not others[0][0]:
            return []
        writers = self._fetch("SELECT DISTINCT writer FROM visit_counts WHERE writer <> ?", (key,))
        gone = [
            writer
            for (writer,) in writers
            # Held until this transaction ends, so that no new writer takes the key meanwhile
            # (and no two writers take the same rows: the delete would wait, then find none).
            if self._fetch("SELECT pg_try_advisory_xact_lock(?, ?)", (_WRITER_LOCKS, writer))[0][0]
        ]
        if not gone:
            return []
        marks = ", ".join("?" * len(gone))
        rows = self._fetch(
            f"DELETE FROM visit_counts WHERE writer IN ({marks}) RETURNING counts",  # noqa: S608
            gone,
        )
        return [str(counts) for (counts,) in rows]

    def add_daily(self, counts: Sequence[DailyCount]) -> None:
        # One statement for all the rows: each would otherwise be parsed and planned alone.
        records = _json_rows(self._daily_rows(counts))
        self._held.append(self._bind(_PG_ADD_DAILY.execute, (records,)))

    def _day(self, day: date) -> Any:
        return day.isoformat()

    def conflicted(self, error: BaseException) -> bool:
        return super().conflicted(error) or _CONFLICT in str(error)


# A statement whose rows must number exactly the parameter after its own fails the
# transaction with this in its message when they do not (a failed cast is the one error
# plain SQL can raise on demand; the text of a CASE is cast when it runs, never earlier).
_CONFLICT = "leadline group conflict"
_IDLE = 0  # psycopg.pq.TransactionStatus.IDLE
# The first key of the advisory locks that name the tracking writers (see PostgresStore.open).
_WRITER_LOCKS = 0x4C4C5657
_COMMAND_OK = 1  # psycopg.pq.ExecStatus.COMMAND_OK


def _literal(value: str | int) -> str:
    """A text or a whole number as a literal of a query text, on a connection whose
    ``standard_conforming_strings`` is on: in a quoted string, only a quote is special (it
    is doubled), and a NUL character, which a query text cannot hold, is refused."""
    if isinstance(value, int):
        return str(value)
    if "\x00" in value:
        raise ValueError("a text with a NUL character cannot be stored")
    return "'" + value.replace("'", "''") + "'"


def _failure(result: Any) -> Exception:
    """The driver's error for a failed result of libpq (the class its SQLSTATE names)."""
    import psycopg

    message = (result.error_message or b"").decode(errors="replace").strip()
    state = result.error_field(psycopg.pq.DiagnosticField.SQLSTATE)
    kind: type[Exception] = psycopg.OperationalError
    if state:
        with contextlib.suppress(KeyError):
            kind = psycopg.errors.lookup(state.decode())
    return kind(message or "the commit failed")


def _checked(statement: str, what: str) -> str:
    return (
        f"WITH done AS ({statement}) SELECT CAST(CASE WHEN (SELECT count(*) FROM done) = %s"  # noqa: S608
        f" THEN '0' ELSE '{_CONFLICT}: {what}' END AS integer)"
    )


def _json_rows(rows: Sequence[Sequence[Any]]) -> str:
    """Rows as one JSON array of arrays (no object per row to build), for ``_records``."""
    return _json_encode(rows).decode()


def _records(types: str) -> str:
    """A subquery of the rows of one parameter made by ``_json_rows``: each array element a
    row, the columns in the order of ``types`` (``name type, ...``), cast to their types."""
    columns = ", ".join(
        f"(r->>{index})::{kind} AS {name}"
        for index, (name, kind) in enumerate(
            column.strip().split(" ", 1) for column in types.split(",")
        )
    )
    return f"(SELECT {columns} FROM jsonb_array_elements(%s::jsonb) AS a(r))"  # noqa: S608


def _typed(names: Sequence[str], kinds: dict[str, str]) -> str:
    """``name type, ...`` for ``_records`` and the temporary table: ``kinds`` names the
    types other than text."""
    return ", ".join(f"{name} {kinds.get(name, 'text')}" for name in names)


_json_encode = msgspec.json.Encoder().encode
_EVENT_TYPES = _typed(EVENT_COLUMNS, dict.fromkeys(("occurred_at", "received_at"), "timestamptz"))
_DAILY_TYPES = _typed(
    _DAILY_NAMES,
    {"day": "date", **dict.fromkeys(("sessions", "visitors", "page_views", "events"), "integer")},
)
# In the order of _VISIT_TYPES.
_VISIT_NAMES = ("id", "revision", *_COUNTERS)
_visit_row = operator.attrgetter(*_VISIT_NAMES)
_VISIT_TYPES = _typed(
    _VISIT_NAMES,
    {
        **dict.fromkeys(_VISIT_NAMES, "integer"),
        "id": "text",
        "last_seen_at": "timestamptz",
        "ended_at": "timestamptz",
        "engagement_label": "text",
    },
)


# PostgresStore's statements, made once. Each insert of events comes plain (its rows are
# read back) and checked (every one must be new, see _checked).
_EVENTS_INSERT = f"INSERT INTO events ({_EVENT_COLUMNS}) SELECT {_EVENT_COLUMNS}"
_EVENTS_SKIP = " ON CONFLICT (client_id, session_id) DO NOTHING RETURNING session_id, client_id"
_STORED_ALREADY = "an event was stored already"
_FROM_JSON = f"{_EVENTS_INSERT} FROM {_records(_EVENT_TYPES)} AS e{_EVENTS_SKIP}"
_FROM_COPY = f"{_EVENTS_INSERT} FROM incoming_events{_EVENTS_SKIP}"
_UPDATE_VISITS = _checked(
    "UPDATE sessions AS s SET "  # noqa: S608
    + ", ".join(f"{name} = v.{name}" for name in _COUNTERS)
    + f", revision = s.revision + 1 FROM {_records(_VISIT_TYPES)} AS v"
    " WHERE s.id = v.id AND s.revision = v.revision RETURNING s.id",
    "a visit was changed by another writer",
)
_ADD_DAILY = (
    f"INSERT INTO tracking_daily ({_DAILY_COLUMNS}) SELECT {_DAILY_COLUMNS}"  # noqa: S608
    f" FROM {_records(_DAILY_TYPES)} AS d {_DAILY_ADD}"
)


@dataclass(frozen=True)
class _Prepared:
    """A statement prepared on the writer's connection (``definition``, sent once when it
    opens) and the text that runs it (``execute``, with psycopg's ``%s`` for its values)."""

    definition: str
    execute: str


def _prepared(name: str, statement: str, types: Sequence[str]) -> _Prepared:
    """``statement``'s ``%s`` placeholders, in order, become parameters of these ``types``."""
    parts = statement.split("%s")
    if len(parts) != len(types) + 1:
        raise ValueError(f"{name}: {len(parts) - 1} placeholders for {len(types)} types")
    numbered = parts[0] + "".join(f"${n}{part}" for n, part in enumerate(parts[1:], 1))
    declared = f" ({', '.join(types)})" if types else ""
    arguments = f" ({', '.join('%s' for _ in types)})" if types else ""
    return _Prepared(f"PREPARE {name}{declared} AS {numbered}", f"EXECUTE {name}{arguments}")


_PG_EVENTS_FROM_JSON = (
    _prepared("leadline_events", _FROM_JSON, ["jsonb"]),
    _prepared("leadline_events_new", _checked(_FROM_JSON, _STORED_ALREADY), ["jsonb", "bigint"]),
)
_PG_EVENTS_FROM_COPY = (
    _prepared("leadline_events_copied", _FROM_COPY, []),
    _prepared("leadline_events_copied_new", _checked(_FROM_COPY, _STORED_ALREADY), ["bigint"]),
)
_PG_UPDATE_VISITS = _prepared("leadline_update_visits", _UPDATE_VISITS, ["jsonb", "bigint"])
_PG_ADD_DAILY = _prepared("leadline_add_daily", _ADD_DAILY, ["jsonb"])
_PG_ADD_COUNTS = _prepared(
    "leadline_add_counts",
    "INSERT INTO visit_counts (writer, counts, created_at) VALUES (%s, %s, now())",
    ["integer", "text"],
)
_PG_DROP_COUNTS = _prepared(
    "leadline_drop_counts", "DELETE FROM visit_counts WHERE writer = %s", ["integer"]
)
_PG_PREPARED = (
    *_PG_EVENTS_FROM_JSON,
    *_PG_EVENTS_FROM_COPY,
    _PG_UPDATE_VISITS,
    _PG_ADD_DAILY,
    _PG_ADD_COUNTS,
    _PG_DROP_COUNTS,
)


def open_store(url: str) -> TrackingStore:
    """A store on its own connection to the database at ``url`` (a synchronous URL)."""
    if url.startswith("sqlite"):
        return SqliteStore.open(url)
    return PostgresStore.open(url)
