"""Engine, session factory, and the session boundary: one transaction per request or job, or
per group of requests (``GroupCommit``)."""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Generic, TypeVar

from sqlalchemy import CursorResult, Table, delete, event, select, text, tuple_
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


# SQLite's default: a connection checkpoints (passively) on the commit that finds the log
# this many pages long.
SQLITE_AUTOCHECKPOINT_PAGES = 1000

# SQLite files that a checkpoint thread of this process copies back (the tracking writer's
# SqliteCheckpointer), and how many such threads run for each.
_CHECKPOINTED: dict[str, int] = {}
_CHECKPOINTED_LOCK = threading.Lock()


def checkpointed_here(path: str, running: bool) -> None:
    """A checkpoint thread of this process starts (or stops) looking after ``path``: while
    one runs, the process's pooled connections leave the checkpoints to it. Their own would
    be passive, and a passive checkpoint beside a writer is what SQLite before 3.51.3 can get
    wrong (see ``tracking.store_sqlite.SqliteCheckpointer``)."""
    with _CHECKPOINTED_LOCK:
        count = _CHECKPOINTED.get(path, 0) + (1 if running else -1)
        if count > 0:
            _CHECKPOINTED[path] = count
        else:
            _CHECKPOINTED.pop(path, None)


def _autocheckpoint_pages(path: str) -> int:
    return 0 if _CHECKPOINTED.get(path) else SQLITE_AUTOCHECKPOINT_PAGES


def _sqlite_pragmas(path: str, dbapi_connection: Any, record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    pages = _autocheckpoint_pages(path)
    cursor.execute(f"PRAGMA wal_autocheckpoint={pages}")
    record.info["autocheckpoint"] = pages
    cursor.close()


def _sqlite_checkout(path: str, dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """A pooled connection follows the process's checkpoint thread starting or stopping
    (one dictionary lookup when nothing changed)."""
    pages = _autocheckpoint_pages(path)
    if record.info.get("autocheckpoint") != pages:
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA wal_autocheckpoint={pages}")
        cursor.close()
        record.info["autocheckpoint"] = pages


def create_engine(settings: Settings) -> AsyncEngine:
    url = settings.async_url
    # Connections kept open: as many as requests usually run at once. A request beyond the
    # pool opens a connection of its own and closes it after (overflow), which costs more than
    # the request's own work (a thread and the file's pragmas on SQLite, a login on PostgreSQL).
    pool = {"pool_size": 20, "max_overflow": 20}
    if url.startswith("sqlite"):
        engine = create_async_engine(url, **pool)
        path = make_url(settings.sync_url).database or ""
        event.listen(engine.sync_engine, "connect", functools.partial(_sqlite_pragmas, path))
        event.listen(engine.sync_engine, "checkout", functools.partial(_sqlite_checkout, path))
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
