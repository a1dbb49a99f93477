"""The tracking writer's store on PostgreSQL (synchronous psycopg)."""

from __future__ import annotations

import contextlib
import hashlib
import operator
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import msgspec
from sqlalchemy.engine import make_url

from leadline.tracking.store import (
    COUNTERS,
    DAILY_ADD,
    DAILY_COLUMN_LIST,
    DAILY_NAMES,
    EVENT_COLUMN_LIST,
    EVENT_COLUMNS,
    HOURLY_ADD,
    HOURLY_COLUMN_LIST,
    HOURLY_NAMES,
    DailyCount,
    EventRow,
    TrackingStore,
    VisitState,
)


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
        # Times read back come in UTC, as the writer's own clock gives them.
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
        self, rows: Sequence[EventRow], *, all_new: bool = False
    ) -> set[tuple[str, str]] | None:
        if len(rows) >= self.EVENTS_BY_COPY:
            # Many events cost more as one long JSON value, quoted into the query text and
            # parsed back out, than COPY into a temporary table and its two round trips.
            if self._held:
                self._send()
            cursor = self.connection.cursor()
            with cursor.copy(f"COPY incoming_events ({EVENT_COLUMN_LIST}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(msgspec.structs.astuple(row))
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

    def lock_visitors(self, visitors: Sequence[tuple[str, str]]) -> None:
        # Held back like the writes: it goes ahead of the group's first read, in the same
        # query, so the locks cost no round trip of their own; that read, and every one after
        # it, sees what a writer that held one of them committed. Every writer takes its keys
        # in one order (ascending), so two groups never each hold a lock the other waits for.
        keys = sorted({_visitor_key(site_id, visitor_id) for site_id, visitor_id in visitors})
        array = "{" + ",".join(map(str, keys)) + "}"
        self._held.append(self._bind(_PG_LOCK_VISITORS.execute, (_VISITOR_LOCKS, array)))

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

    def add_hourly(self, counts: Sequence[DailyCount], hour: datetime) -> None:
        records = _json_rows(self._hourly_rows(counts, hour))
        self._held.append(self._bind(_PG_ADD_HOURLY.execute, (records,)))

    def _day(self, day: date) -> Any:
        return day.isoformat()

    def _hour(self, hour: datetime) -> Any:
        return hour.isoformat()

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
# The first key of the advisory locks a transaction holds on the visitors it looks up
# (PostgresStore.lock_visitors); the second is _visitor_key's.
_VISITOR_LOCKS = 0x4C4C5656


def _visitor_key(site_id: str, visitor_id: str) -> int:
    """A visitor's lock key: 32 bits of a digest of the site and visitor, the same in every
    process. Two visitors whose keys are equal only wait for each other now and then."""
    digest = hashlib.blake2b(f"{site_id} {visitor_id}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big", signed=True)


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


def _json_rows(rows: Sequence[Any]) -> str:
    """Rows (sequences, or structs encoded as arrays) as one JSON array of arrays (no object
    per row to build), for ``_records``."""
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
    DAILY_NAMES,
    {"day": "date", **dict.fromkeys(("visits", "visitors", "page_views", "events"), "integer")},
)
_HOURLY_TYPES = _typed(
    HOURLY_NAMES,
    {"hour": "timestamptz", **dict.fromkeys(("visits", "page_views", "events"), "integer")},
)
# In the order of _VISIT_TYPES.
_VISIT_NAMES = ("id", "revision", *COUNTERS)
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
_EVENTS_INSERT = f"INSERT INTO events ({EVENT_COLUMN_LIST}) SELECT {EVENT_COLUMN_LIST}"
_EVENTS_SKIP = " ON CONFLICT (client_id, visit_id) DO NOTHING RETURNING visit_id, client_id"
_STORED_ALREADY = "an event was stored already"
_FROM_JSON = f"{_EVENTS_INSERT} FROM {_records(_EVENT_TYPES)} AS e{_EVENTS_SKIP}"
_FROM_COPY = f"{_EVENTS_INSERT} FROM incoming_events{_EVENTS_SKIP}"
_UPDATE_VISITS = _checked(
    "UPDATE visits AS s SET "  # noqa: S608
    + ", ".join(f"{name} = v.{name}" for name in COUNTERS)
    + f", revision = s.revision + 1 FROM {_records(_VISIT_TYPES)} AS v"
    " WHERE s.id = v.id AND s.revision = v.revision RETURNING s.id",
    "a visit was changed by another writer",
)
_ADD_DAILY = (
    f"INSERT INTO tracking_daily ({DAILY_COLUMN_LIST}) SELECT {DAILY_COLUMN_LIST}"  # noqa: S608
    f" FROM {_records(_DAILY_TYPES)} AS d {DAILY_ADD}"
)

_ADD_HOURLY = (
    f"INSERT INTO tracking_hourly ({HOURLY_COLUMN_LIST}) SELECT {HOURLY_COLUMN_LIST}"  # noqa: S608
    f" FROM {_records(_HOURLY_TYPES)} AS h {HOURLY_ADD}"
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
_PG_ADD_HOURLY = _prepared("leadline_add_hourly", _ADD_HOURLY, ["jsonb"])
_PG_ADD_COUNTS = _prepared(
    "leadline_add_counts",
    "INSERT INTO visit_counts (writer, counts, created_at) VALUES (%s, %s, now())",
    ["integer", "text"],
)
_PG_DROP_COUNTS = _prepared(
    "leadline_drop_counts", "DELETE FROM visit_counts WHERE writer = %s", ["integer"]
)
# The locks are taken in the order of their keys (the function runs after the sort).
_PG_LOCK_VISITORS = _prepared(
    "leadline_lock_visitors",
    "SELECT pg_advisory_xact_lock(%s, k) FROM unnest(%s) AS k ORDER BY k",
    ["integer", "integer[]"],
)
_PG_PREPARED = (
    _PG_LOCK_VISITORS,
    *_PG_EVENTS_FROM_JSON,
    *_PG_EVENTS_FROM_COPY,
    _PG_UPDATE_VISITS,
    _PG_ADD_DAILY,
    _PG_ADD_HOURLY,
    _PG_ADD_COUNTS,
    _PG_DROP_COUNTS,
)
