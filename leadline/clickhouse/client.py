"""How Leadline talks to ClickHouse: through ``clickhouse-connect``, whatever runs the engine.

``LEADLINE_CLICKHOUSE_URL`` names it:

- ``http://user:password@host:8123/leadline`` (or ``https://...:8443/...``): a ClickHouse
  server over HTTP, what production runs;
- ``chdb:///var/lib/leadline/clickhouse?database=leadline``: the ClickHouse engine inside the
  process (chDB), through clickhouse-connect's own chDB backend. The tests and the bench run
  this: the same client class (``SyncBackendClient``: parameter binding, the Native format of
  inserts and answers, settings) and the same statements as production; only the transport
  under it differs (ADR 0014).

Statements bind their values as ``{name:Type}`` parameters (never pasted into the text).
Times travel as milliseconds since the epoch (``Int64``), turned into ``DateTime64(3, 'UTC')``
by the statements themselves, so no driver's idea of a time zone comes between. An insert
returns only once ClickHouse has stored the rows (``async_insert = 0``): the tracking writer
answers its requests after that.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

from leadline.errors import ServiceUnavailable

Row = tuple[Any, ...]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Every insert waits for ClickHouse to store it: never a buffered asynchronous insert.
INSERT_SETTINGS = {"async_insert": 0}
# A mutation (``ALTER TABLE ... UPDATE``) returns once every replica has applied it.
MUTATION_SETTINGS = {"mutations_sync": 2}
# No server-side state between statements (clickhouse-connect's own name for it is the
# option's): with it the server runs one statement of the client at a time, and nothing here
# keeps state there.
_STATELESS: dict[str, Any] = {"autogenerate_session_id": False}


class ClickHouseUnavailable(ServiceUnavailable):
    """ClickHouse could not be reached (a refused or broken connection, a timeout)."""


@contextlib.contextmanager
def _reaching() -> Iterator[None]:
    """Turn clickhouse-connect's failures to reach the server into a 503 (a statement
    ClickHouse refuses stays the error it is)."""
    from clickhouse_connect.driver.exceptions import OperationalError

    try:
        yield
    except OperationalError as exc:
        raise ClickHouseUnavailable(
            "ClickHouse cannot be reached; retry shortly", retry_after=5
        ) from exc


def millis(moment: datetime) -> int:
    """A moment as the ``Int64`` milliseconds the statements take."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // timedelta(milliseconds=1)


class ClickHouse:
    """One clickhouse-connect client, with the few calls Leadline makes, shared by the
    threads of a process (the engine inside the process one statement at a time)."""

    def __init__(self, url: str) -> None:
        self.url = url
        with _reaching():
            self.engine, self.database, self._client = _connect(url)
        # chDB's engine runs one statement of a client at a time; the HTTP client without a
        # server session is safe to share between threads, so reports run side by side.
        self._lock: contextlib.AbstractContextManager[Any] = (
            threading.Lock() if self.engine == "chdb" else contextlib.nullcontext()
        )

    def command(
        self,
        statement: str,
        parameters: Mapping[str, Any] | None = None,
        settings: Mapping[str, Any] | None = None,
    ) -> None:
        with self._lock, _reaching():
            self._client.command(
                statement, parameters=dict(parameters or {}), settings=dict(settings or {})
            )

    def query(self, statement: str, parameters: Mapping[str, Any] | None = None) -> list[Row]:
        with self._lock, _reaching():
            result = self._client.query(statement, parameters=dict(parameters or {}))
        return [tuple(row) for row in result.result_rows]

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Insert rows; returns once ClickHouse has stored them, else raises."""
        data = [[_value(v) for v in row] for row in rows]
        with self._lock, _reaching():
            self._client.insert(
                table, data, column_names=list(columns), settings=dict(INSERT_SETTINGS)
            )

    def close(self) -> None:
        with self._lock:
            self._client.close()


def _value(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _connect(url: str) -> tuple[str, str, Any]:
    """(engine, database, client) for the URL; the database is made when missing."""
    import clickhouse_connect

    parts = urlsplit(url)
    if parts.scheme == "chdb":
        query = parse_qs(parts.query)
        database = query.get("database", ["leadline"])[0]
        location = urlunsplit(("chdb", parts.netloc, parts.path, "", ""))
        # The engine first, to make the database; then a client that uses it.
        clickhouse_connect.get_client(dsn=location).command(
            f"CREATE DATABASE IF NOT EXISTS {_name(database)}"
        )
        return "chdb", database, clickhouse_connect.get_client(dsn=location, database=database)
    if parts.scheme not in ("http", "https"):
        raise ValueError("LEADLINE_CLICKHOUSE_URL must start with http://, https:// or chdb://")
    database = parts.path.strip("/") or "default"
    server = urlunsplit((parts.scheme, parts.netloc, "", parts.query, ""))
    if database != "default":
        clickhouse_connect.get_client(dsn=server, **_STATELESS).command(
            f"CREATE DATABASE IF NOT EXISTS {_name(database)}"
        )
    client = clickhouse_connect.get_client(dsn=server, database=database, **_STATELESS)
    return "http", database, client


def _name(identifier: str) -> str:
    if not identifier or not identifier.replace("_", "").isalnum():
        raise ValueError(f"a ClickHouse database name is letters, digits and _: {identifier!r}")
    return identifier


def open_clickhouse(url: str) -> ClickHouse:
    """A client for ``LEADLINE_CLICKHOUSE_URL`` (see the module's documentation)."""
    return ClickHouse(url)
