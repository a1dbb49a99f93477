"""The tracking writer's store on SQLite (stdlib ``sqlite3``), and the thread that checkpoints
its write-ahead log."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.engine import make_url

from leadline.db import SqliteCheckpointer as SqliteCheckpointer
from leadline.tracking.store import EVENT_COLUMN_LIST, EventRow, TrackingStore


class EventTimes:
    """Times as SQLite's rows carry them: naive UTC text with microseconds, as SQLAlchemy
    stores them. Each store has its own: times come a second at a time, so the text up to the
    second is made once per second (a third of isoformat's cost), and the rows of one request
    share one moment, whose text is made once."""

    __slots__ = ("_moment", "_second", "_second_text", "_text")

    def __init__(self) -> None:
        self._second: tuple[int, ...] = ()
        self._second_text = ""
        self._moment: datetime | None = None
        self._text = ""

    def text(self, moment: datetime) -> str:
        if moment is self._moment:
            return self._text
        utc = moment if moment.tzinfo is UTC else moment.astimezone(UTC)
        second = (utc.year, utc.month, utc.day, utc.hour, utc.minute, utc.second)
        if second != self._second:
            year, month, day, hour, minute, sec = second
            self._second = second
            self._second_text = (
                f"{year:04d}-{month:02d}-{day:02d} {hour:02d}:{minute:02d}:{sec:02d}"
            )
        self._moment = moment
        self._text = f"{self._second_text}.{utc.microsecond:06d}"
        return self._text


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

    def __init__(self, connection: sqlite3.Connection) -> None:
        super().__init__(connection)
        self.times = EventTimes()

    def value(self, value: Any) -> Any:
        if isinstance(value, datetime):
            return self.times.text(value)  # as SQLAlchemy stores times
        return value

    def _time(self, value: Any) -> Any:
        if isinstance(value, str):
            return datetime.fromisoformat(value).replace(tzinfo=UTC)
        return value

    def _day(self, day: date) -> Any:
        return day.isoformat()

    def _hour(self, hour: datetime) -> Any:
        return self.times.text(hour)

    def begin(self) -> None:
        self.connection.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        self.connection.execute("COMMIT")

    def rollback(self) -> None:
        if self.connection.in_transaction:
            self.connection.execute("ROLLBACK")

    def insert_events(
        self, rows: Sequence[EventRow], *, all_new: bool = False
    ) -> set[tuple[str, str]] | None:
        # Most events are new: insert them all at once and, only when some were there
        # already, undo that and insert again learning which ones went in.
        text = self.times.text
        params = [
            (
                row.workspace_id,
                row.site_id,
                row.visit_id,
                row.client_id,
                row.type,
                text(row.occurred_at),
                text(row.received_at),
                row.url,
                row.data,
            )
            for row in rows
        ]
        self.connection.execute("SAVEPOINT events")
        cursor = self.connection.executemany(
            f"INSERT INTO events ({EVENT_COLUMN_LIST}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"  # noqa: S608
            " ON CONFLICT (client_id, visit_id) DO NOTHING",
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
                f"INSERT INTO events ({EVENT_COLUMN_LIST}) VALUES {values}"  # noqa: S608
                " ON CONFLICT (client_id, visit_id) DO NOTHING"
                " RETURNING visit_id, client_id",
                [value for row in chunk for value in row],
            )
            inserted.update((str(s), str(c)) for s, c in cursor.fetchall())
        return inserted


# Bytes the write-ahead log file keeps when it starts over (see SqliteCheckpointer).
WAL_SIZE_LIMIT = 64 * 1024 * 1024
