"""Engine, session factory, and the session boundary: one transaction per request or job, or
per group of requests (``GroupCommit``)."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections import deque
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any, Generic, TypeVar

from sqlalchemy import CursorResult, Engine, Table, delete, event, select, text, tuple_
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from leadline.config import Settings
from leadline.errors import LeadlineError, ServiceUnavailable

log = logging.getLogger(__name__)

OrderT = TypeVar("OrderT")
ResultT = TypeVar("ResultT")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA wal_autocheckpoint=0")  # see SqliteCheckpointer
    cursor.close()


@event.listens_for(Engine, "connect")
def _no_passive_checkpoints(dbapi_connection: Any, _record: Any) -> None:
    """Every SQLAlchemy engine of the process on SQLite (the CLI's, the migrations'), not only
    the app's: none of their connections checkpoints on its commits (see
    SqliteCheckpointer). Their last close checkpoints what is left, as SQLite does."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.execute("PRAGMA wal_autocheckpoint=0")


# How long a checkpoint turn waits on SQLite's locks (see SqliteCheckpointer), in ms.
TURN_WAIT_MS = 200


def create_engine(settings: Settings) -> AsyncEngine:
    url = settings.async_url
    # Connections kept open: as many as requests usually run at once. A request beyond the
    # pool opens a connection of its own and closes it after (overflow), which costs more than
    # the request's own work (a thread and the file's pragmas on SQLite, a login on PostgreSQL).
    pool = {"pool_size": 20, "max_overflow": 20}
    if url.startswith("sqlite"):
        engine = create_async_engine(url, **pool)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(
        url,
        **pool,
        # No ping before each checkout (a round trip per transaction, a quarter of a read's
        # cost): a connection the server dropped fails its next use, SQLAlchemy then discards
        # the pool's connections, and the following transactions connect afresh. Connections
        # older than an hour are replaced before use.
        pool_recycle=3600,
        # psycopg prepares statements it sees often; a prepared list query can fall back to a
        # generic plan that ignores how selective this request's filter is. Plan every run.
        connect_args={"options": "-c plan_cache_mode=force_custom_plan"},
    )


_WRITE_GATES: dict[str, threading.Lock] = {}
_GATES_LOCK = threading.Lock()


def write_gate(sync_url: str) -> threading.Lock | None:
    """The lock this process's steady writers to one SQLite file take around each of their
    transactions (the tracking writer, its checkpoint restarts, the group commits); None for
    PostgreSQL. SQLite makes a writer that finds the file locked sleep in steps of up to 100 ms
    before it tries again; writers that wait on this lock instead go on the moment the other
    is done."""
    if not sync_url.startswith("sqlite"):
        return None
    path = make_url(sync_url).database or ""
    with _GATES_LOCK:
        return _WRITE_GATES.setdefault(path, threading.Lock())


def table_of(model: type[Any]) -> Table:
    """A model's table, for Core statements that skip the ORM's per-object work (rows written
    in groups)."""
    table: Table = model.__table__
    return table


class Repository:
    """What every feature's repository is made with: the caller's session, whose transaction
    belongs to the request or job that opened it (a repository flushes, never commits)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def delete_some(self, model: type[Any], *criteria: Any, batch: int) -> int:
        """Delete up to ``batch`` rows of ``model`` matching ``criteria``; how many went.

        Purges delete large tables a batch per transaction, so that none holds its locks (on
        SQLite, the whole database's) for long; the rows are picked by their primary key,
        which every table has, as neither database takes a LIMIT on DELETE."""
        table = table_of(model)
        key = list(table.primary_key.columns)
        picked = select(*key).where(*criteria).limit(batch)
        target = key[0] if len(key) == 1 else tuple_(*key)
        result = await self.session.execute(delete(table).where(target.in_(picked)))
        return result.rowcount if isinstance(result, CursorResult) else 0


class Database:
    """What the app and the CLI share: one engine and its session factory."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = create_engine(settings)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)
        self.write_gate = write_gate(settings.sync_url)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One unit of work: committed when the block ends, rolled back if it raises."""
        async with self.sessionmaker() as session:
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise

    async def ping(self) -> None:
        """Raise unless the database answers a trivial query (the health check's probe)."""
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()


class GroupCommit(Generic[OrderT, ResultT]):
    """One transaction for the work of many requests (group commit), on one task per process.

    A request hands its order over (``submit``) and waits. The task takes everything queued
    while its previous transaction ran, ``apply``-s it in one transaction, commits, and only
    then answers each request, so what was answered is stored. ``apply`` answers each order
    with a result, or with a LeadlineError that is that order's alone (refused before it
    wrote anything). When ``apply`` raises, the group is rolled back and each order is applied
    again on its own, so that one order's failure is its own answer and not its neighbours'.
    More than ``capacity`` orders waiting: a request is refused at once (503, Retry-After).
    """

    what = "requests"

    def __init__(
        self, database: Database, *, capacity: int = 5_000, group_limit: int = 500
    ) -> None:
        self.database = database
        self.capacity = capacity
        self.group_limit = group_limit
        self._queue: deque[tuple[OrderT, asyncio.Future[ResultT]]] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        # Committed groups, the orders they held, and the groups applied again one by one.
        self.groups = 0
        self.orders = 0
        self.split_groups = 0

    async def apply(
        self, session: AsyncSession, orders: list[OrderT]
    ) -> list[ResultT | LeadlineError]:
        raise NotImplementedError

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=type(self).__name__)

    async def stop(self) -> None:
        """Apply everything queued, then stop."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def submit(self, order: OrderT) -> ResultT:
        if self._stopping or self._task is None:
            raise ServiceUnavailable("the server is shutting down", retry_after=1)
        if len(self._queue) >= self.capacity:
            raise ServiceUnavailable(
                f"{len(self._queue)} {self.what} are waiting to be stored; retry shortly",
                retry_after=1,
            )
        answer: asyncio.Future[ResultT] = asyncio.get_running_loop().create_future()
        self._queue.append((order, answer))
        self._wake.set()
        # A request that goes away still has its order applied: it stays queued.
        return await asyncio.shield(answer)

    async def _run(self) -> None:
        while True:
            if not self._queue:
                if self._stopping:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            take = min(self.group_limit, len(self._queue))
            group = [self._queue.popleft() for _ in range(take)]
            try:
                await self._commit(group)
            except BaseException as exc:  # the task must go on, whatever one group did
                for _, answer in group:
                    _settle(answer, exc)
                if isinstance(exc, asyncio.CancelledError):
                    raise

    async def _commit(self, group: list[tuple[OrderT, asyncio.Future[ResultT]]]) -> None:
        try:
            async with self.transaction() as session:
                results = await self.apply(session, [order for order, _ in group])
        except Exception as exc:
            if len(group) == 1:
                _settle(group[0][1], exc)
                return
            # Which order it was is not known: each is applied on its own, and answered so.
            self.split_groups += 1
            log.info("%s: a group of %d failed (%s); applying each alone", self, len(group), exc)
            for one in group:
                await self._commit([one])
            return
        self.groups += 1
        self.orders += len(group)
        for (_, answer), result in zip(group, results, strict=True):
            _settle(answer, result)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        gate = self.database.write_gate
        if gate is None:
            async with self.database.transaction() as session:
                yield session
            return
        if not gate.acquire(blocking=False):
            waiting = asyncio.ensure_future(asyncio.to_thread(gate.acquire))
            try:
                await asyncio.shield(waiting)
            except asyncio.CancelledError:
                # The thread takes the lock all the same: give it back once it has.
                waiting.add_done_callback(lambda _: gate.release())
                raise
        try:
            async with self.database.transaction() as session:
                yield session
        finally:
            gate.release()


def _settle(answer: asyncio.Future[Any], result: Any) -> None:
    if answer.done():
        return
    if isinstance(result, asyncio.CancelledError):
        answer.cancel()
    elif isinstance(result, BaseException):
        answer.set_exception(result)
    else:
        answer.set_result(result)


class SqliteCheckpointer:
    """Copies the write-ahead log back into the database file every ``interval`` seconds, on
    its own connection, between two of the writer's transactions. Small checkpoints often:
    one that copies half a second of writes at a time holds the disk and the core long enough
    to show in the requests' tail latency.

    Every turn is a FULL checkpoint, which holds SQLite's write lock while it reads the log's
    header and copies: never a PASSIVE one, which runs beside writers. SQLite releases before
    3.51.3 (Debian 12's 3.40, for one) have a race between a checkpoint that starts without
    the write lock and a writer that makes the log start over at that moment: the checkpoint
    can then skip pages, and the database file is corrupt. A passive checkpoint every tenth
    of a second beside a busy writer is the most likely way to meet it; a checkpoint that
    holds the write lock cannot. So no connection of Leadline's checkpoints on
    its commits (SQLite's default, always passive): ``leadline serve`` runs one of these beside
    the tracking writer, ``leadline worker`` one of its own (``checkpoints``).

    FULL waits (up to the connection's busy timeout) for readers of older snapshots; then it
    copies what it can and the rest goes at a later turn. Once the log holds more than
    ``restart_frames`` pages, a restarting checkpoint also waits for the log's readers, so
    that the next transaction writes the log from its start; the writer's
    ``journal_size_limit`` then cuts the file back."""

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
            # How long a turn waits for another process's writer, or for readers of older
            # snapshots, while the gate holds this process's writers.
            connection.execute(f"PRAGMA busy_timeout={TURN_WAIT_MS}")
            # A connection that has not read the file since it was switched to WAL (the
            # writer's own connection does it, when it opens) checkpoints nothing: -1 pages.
            connection.execute("PRAGMA journal_mode=WAL")
            while not stop.wait(self.interval):
                self.checkpoint(connection)
            with self.gate:
                connection.execute("PRAGMA wal_checkpoint(FULL)").fetchall()
        finally:
            connection.close()

    def checkpoint(self, connection: sqlite3.Connection) -> bool:
        """One turn; True when it made the log start over."""
        with self.gate:
            ((busy, logged, _),) = connection.execute("PRAGMA wal_checkpoint(FULL)").fetchall()
            if busy or logged <= self.restart_frames:
                return False
            ((busy, _, _),) = connection.execute("PRAGMA wal_checkpoint(RESTART)").fetchall()
        if busy:  # a reader of another connection held it up: the next turn tries again
            return False
        self.restarts += 1
        return True


@contextmanager
def checkpoints(sync_url: str, *, interval: float = 1.0) -> Iterator[None]:
    """A SqliteCheckpointer on a thread of its own while the block runs (nothing for
    PostgreSQL): for a process that writes to SQLite without the tracking writer's."""
    if not sync_url.startswith("sqlite"):
        yield
        return
    checkpointer = SqliteCheckpointer(sync_url, interval=interval, gate=write_gate(sync_url))
    stop = threading.Event()

    def run() -> None:
        try:
            checkpointer.run(stop)
        except Exception:
            log.exception("the SQLite checkpoint thread stopped")

    thread = threading.Thread(target=run, name="sqlite checkpoints", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
