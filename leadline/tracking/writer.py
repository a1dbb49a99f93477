"""The tracking writer: one per process, on its own thread and database connection.

Requests hand it prepared work and wait. It takes everything queued while its previous
transaction ran, applies it in one transaction (group commit), commits, and only then answers
each request, so an event answered 2xx is on disk. When more events wait than it may hold, a
request is refused with 503 and ``Retry-After`` at once: nothing is dropped silently.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from leadline.clickhouse.client import open_clickhouse
from leadline.clickhouse.schema import ensure_tables
from leadline.db import write_gate
from leadline.errors import LeadlineError, ServiceUnavailable
from leadline.kit import metrics
from leadline.kit.time import utcnow
from leadline.tracking.counts import Added, fold_counts
from leadline.tracking.groups import GroupResult, VisitCache, apply_group
from leadline.tracking.prepare import EventsWork, ServerIds, VisitAnswer, Work
from leadline.tracking.store import TrackingStore, open_store
from leadline.tracking.store_clickhouse import ClickHouseStore
from leadline.tracking.store_sqlite import SqliteCheckpointer, SqliteStore

log = logging.getLogger(__name__)

Result = VisitAnswer | LeadlineError


@dataclass(slots=True)
class Queued:
    """A request's work waiting for the writer, and the future its answer goes to."""

    work: Work
    answer: asyncio.Future[Result]


class TrackingWriter:
    def __init__(
        self,
        sync_url: str,
        *,
        capacity: int,
        group_limit: int = 20_000,
        restart_frames: int = 4096,
        defer_from: int = 8,
        fold_after: float = 1.0,
        orphans_every: float = 30.0,
        clickhouse_url: str | None = None,
        events_retention_days: int | None = None,
    ) -> None:
        """``capacity``: events (a visit start or end counts one) that may wait at once;
        ``group_limit``: the most events one transaction takes; ``restart_frames``: on
        SQLite, the pages of write-ahead log past which the log is made to start over.

        Where the store ``defers`` (PostgreSQL), a group of at least ``defer_from`` requests
        leaves the rows of visits that only got events unwritten: what the events added goes
        to one row of ``visit_counts``, and the writer remembers it (``pending``); while
        counts are pending, groups of any size do the same. The first group ``fold_after``
        seconds after the oldest pending counts (or a turn of its own when no request comes
        by then) defers nothing: it writes every pending visit and deletes the writer's rows
        (a fold). Every ``orphans_every`` seconds, and on each new connection, the writer
        adds the rows of writers that are gone to their visits.

        With ``clickhouse_url`` the events (and each visit's start) go to ClickHouse, inserted
        before each commit (``tracking.store_clickhouse``); the rest stays in the database."""
        self.sync_url = sync_url
        self.clickhouse_url = clickhouse_url
        self.events_retention_days = events_retention_days
        self.capacity = capacity
        self.group_limit = group_limit
        self.defer_from = defer_from
        self.fold_after = fold_after
        self.orphans_every = orphans_every
        self._cond = threading.Condition()
        self._queue: deque[Queued] = deque()
        self._waiting = 0
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._store: TrackingStore | None = None
        self._stopped = threading.Event()
        self._checkpoints: threading.Thread | None = None
        self.checkpointer: SqliteCheckpointer | None = None
        self._restart_frames = restart_frames
        self._checkpointer_failed = False
        # Held for each transaction; the checkpoint thread's log restarts wait for it.
        self._gate = write_gate(sync_url) or threading.Lock()
        # The visits of the latest groups, changed next time without a read; they hold what
        # is pending.
        self._visits = VisitCache()
        # What committed groups added to visits whose rows were not written then (the sum of
        # this writer's rows of visit_counts), and since when (monotonic) the oldest waits.
        self._pending: dict[str, Added] = {}
        self._pending_since: float | None = None
        self._orphans_checked = 0.0
        # Committed transactions and the requests they answered, the groups applied again
        # because what they counted on did not hold (GroupConflict), the groups that deferred
        # counts and the folds that wrote them, and the rows of writers that were gone which
        # this one added to their visits, for the curious.
        # Ids for the events browsers send without one.
        self.event_ids = ServerIds()
        self.transactions = 0
        self.requests = 0
        self.stale_groups = 0
        self.deferred_groups = 0
        self.folds = 0
        self.orphan_rows = 0

    # ---------------------------------------------------------------- the event loop's side

    def start(self) -> None:
        if self._thread is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name="tracking writer", daemon=True)
        self._thread.start()
        if self.sync_url.startswith("sqlite"):
            self.checkpointer = SqliteCheckpointer(
                self.sync_url, restart_frames=self._restart_frames, gate=self._gate
            )
            self._checkpoints = threading.Thread(
                target=self._checkpoint, name="tracking checkpoints", daemon=True
            )
            self._checkpoints.start()

    def _checkpoint(self) -> None:
        try:
            assert self.checkpointer is not None
            self.checkpointer.run(self._stopped)
        except Exception:
            # The writer's own commits then checkpoint (see _transaction).
            log.exception("tracking writer: the checkpoint thread stopped")
            self._checkpointer_failed = True

    async def stop(self) -> None:
        """Answer everything queued, then close the connection."""
        thread = self._thread
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if thread is not None:
            await asyncio.to_thread(thread.join)
            self._thread = None
        self._stopped.set()
        if self._checkpoints is not None:
            await asyncio.to_thread(self._checkpoints.join)
            self._checkpoints = None

    async def submit(self, work: Work) -> VisitAnswer:
        """Queue the work and wait until it is committed; raises its error if it had one."""
        if self._thread is None:
            self.start()
        assert self._loop is not None
        future: asyncio.Future[Result] = self._loop.create_future()
        with self._cond:
            if self._stopping:
                raise ServiceUnavailable("the server is shutting down", retry_after=1)
            if self._waiting and self._waiting + work.size > self.capacity:
                raise ServiceUnavailable(
                    f"{self._waiting} tracking events are waiting to be stored; retry shortly",
                    retry_after=1,
                )
            if isinstance(work, EventsWork) and work.unnamed:
                work.name_events(self.event_ids)
            self._queue.append(Queued(work, future))
            self._waiting += work.size
            self._cond.notify()
        result = await future
        if isinstance(result, LeadlineError):
            raise result
        return result

    @property
    def waiting(self) -> int:
        return self._waiting

    @property
    def pending_visits(self) -> int:
        """Visits whose rows lack counts this writer has kept apart (see ``__init__``)."""
        return len(self._pending)

    # ------------------------------------------------------------------ the writer's side

    def _take(self) -> list[Queued] | None:
        """The next group; an empty one when pending counts are due to be written and no
        request came; None when stopping and nothing is left."""
        with self._cond:
            while not self._queue and not self._stopping:
                if self._pending_since is None:
                    self._cond.wait()
                    continue
                remaining = self._pending_since + self.fold_after - time.monotonic()
                if remaining <= 0:
                    return []
                self._cond.wait(remaining)
            if not self._queue:
                return None
            group: list[Queued] = []
            taken = 0
            while self._queue and (
                not group or taken + self._queue[0].work.size <= self.group_limit
            ):
                queued = self._queue.popleft()
                group.append(queued)
                taken += queued.work.size
            self._waiting -= taken
            return group

    def _run(self) -> None:
        try:
            if not self.sync_url.startswith("sqlite"):
                # Connect now, and add what writers that are gone kept apart (_fold_orphans).
                self._apply([])
            while (group := self._take()) is not None:
                results = self._apply([queued.work for queued in group])
                if not group:
                    continue
                assert self._loop is not None
                try:
                    self._loop.call_soon_threadsafe(_answer, group, results)
                except RuntimeError:  # the loop is closed: nobody is waiting any more
                    return
            if self._pending:
                self._apply([])  # write what is pending before the connection closes
        finally:
            self._close()

    def _apply(self, works: Sequence[Work]) -> list[Result]:
        try:
            return self._transaction(works)
        except _NoConnection:
            log.exception("tracking writer: no database connection")
            return [_unavailable() for _ in works]
        except Exception:
            metrics.WRITER_FAILURES.inc()
            log.exception("tracking writer: a transaction of %d requests failed", len(works))
        if len(works) <= 1:
            return [_unavailable() for _ in works]
        # Find the request that broke the group: each gets a transaction of its own.
        results: list[Result] = []
        for work in works:
            try:
                results.extend(self._transaction([work]))
            except _NoConnection:
                log.exception("tracking writer: no database connection")
                results.extend(_unavailable() for _ in range(len(works) - len(results)))
                break
            except Exception:
                log.exception("tracking writer: a request could not be stored")
                results.append(_unavailable())
        return results

    def _transaction(self, works: Sequence[Work]) -> list[Result]:
        connected = self._store is None
        if self._store is None:
            self._store = self._connect()
        store = self._store
        try:
            with self._gate:  # see SqliteCheckpointer
                if self._checkpointer_failed and isinstance(_sql_store(store), SqliteStore):
                    store.connection.execute("PRAGMA wal_autocheckpoint=1000")
                if store.defers and (
                    connected or time.monotonic() - self._orphans_checked >= self.orphans_every
                ):
                    self._fold_orphans(store)
                defer = self._defers(store, works)
                started = time.perf_counter()
                try:
                    store.begin()
                    result = apply_group(
                        store, works, utcnow(), self._visits, pending=self._pending, defer=defer
                    )
                    store.commit()
                except Exception as error:
                    if not store.conflicted(error):
                        raise
                    # Undo, forget what it remembered, and apply it again from the database,
                    # writing what is pending as well.
                    store.rollback()
                    self._visits.forget(work.visit_id for work in works if work.visit_id)
                    self._visits.forget(self._pending)
                    self.stale_groups += 1
                    defer = False
                    store.begin()
                    result = apply_group(store, works, utcnow(), pending=self._pending)
                    store.commit()
                self._committed(result, defer)
                if works:
                    metrics.WRITER_COMMIT.observe(time.perf_counter() - started)
                    metrics.WRITER_GROUP_REQUESTS.observe(len(works))
                    metrics.WRITER_GROUP_EVENTS.observe(sum(work.size for work in works))
                self.transactions += 1
                self.requests += len(works)
                return result.answers
        except Exception:
            self._close()  # a connection that failed mid-transaction is not trusted again
            raise

    def _defers(self, store: TrackingStore, works: Sequence[Work]) -> bool:
        if not store.defers or not works:
            return False  # a group of none is a fold (the clock's, or the last before closing)
        since = self._pending_since
        if since is None:
            return len(works) >= self.defer_from
        return time.monotonic() - since < self.fold_after

    def _committed(self, result: GroupResult, deferred: bool) -> None:
        if deferred:
            for visit_id in result.settled:
                self._pending.pop(visit_id, None)
            for visit_id, added in result.deferred.items():
                known = self._pending.get(visit_id)
                if known is None:
                    self._pending[visit_id] = added
                else:
                    known.merge(added)
            if result.deferred:
                self.deferred_groups += 1
            if not self._pending:
                self._pending_since = None
            elif self._pending_since is None:
                self._pending_since = time.monotonic()
        elif self._pending:
            self._pending.clear()
            self._pending_since = None
            self.folds += 1
        self._visits.keep(result.visits)

    def _fold_orphans(self, store: TrackingStore) -> None:
        """Add the rows of ``visit_counts`` of writers that are gone to their visits, in a
        transaction of its own. A failure is logged and tried again later: it must not stop
        the requests' own transactions."""
        self._orphans_checked = time.monotonic()
        try:
            store.begin()
            texts = store.take_orphan_counts()
            visits = fold_counts(store, texts) if texts else []
            store.commit()
        except Exception:
            log.exception("tracking writer: the counts of a writer that is gone were not added")
            store.rollback()
            return
        if texts:
            log.info(
                "tracking writer: added %d rows of counts of writers that are gone to %d visits",
                len(texts),
                len(visits),
            )
            self.orphan_rows += len(texts)
            # Remembered visits would lack these counts: they are read again when next used.
            self._visits.forget(visit.id for visit in visits)

    def _connect(self) -> TrackingStore:
        delay = 0.05
        while True:
            try:
                return self._open()
            except Exception as exc:
                if delay > 2:
                    raise _NoConnection(str(exc)) from exc
                log.warning("tracking writer: cannot connect; retrying in %.2f s", delay)
                time.sleep(delay)
                delay *= 2

    def _open(self) -> TrackingStore:
        store = open_store(self.sync_url)
        if not self.clickhouse_url:
            return store
        try:
            clickhouse = open_clickhouse(self.clickhouse_url)
            ensure_tables(clickhouse, self.events_retention_days)
        except Exception:
            store.close()
            raise
        return ClickHouseStore(store, clickhouse)

    def _close(self) -> None:
        # The rows of visit_counts written on the connection are a gone writer's from now on:
        # the next connection adds them to their visits (_fold_orphans).
        self._visits.clear()
        self._pending.clear()
        self._pending_since = None
        store, self._store = self._store, None
        if store is None:
            return
        try:
            store.rollback()
            store.close()
        except Exception:
            log.debug("tracking writer: closing a failed connection", exc_info=True)


def _sql_store(store: TrackingStore) -> TrackingStore:
    return store.inner if isinstance(store, ClickHouseStore) else store


class _NoConnection(Exception):
    """The database could not be reached."""


def _unavailable() -> ServiceUnavailable:
    return ServiceUnavailable("the tracking data could not be stored; retry shortly", retry_after=5)


def _answer(group: list[Queued], results: list[Result]) -> None:
    for queued, result in zip(group, results, strict=True):
        if not queued.answer.done():  # the request may have been cancelled meanwhile
            queued.answer.set_result(result)
