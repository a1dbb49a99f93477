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

from leadline.errors import LeadlineError, ServiceUnavailable
from leadline.kit.time import utcnow
from leadline.tracking.repository import (
    SqliteCheckpointer,
    SqliteStore,
    TrackingStore,
    open_store,
)
from leadline.tracking.service import VisitAnswer, VisitCache, Work, apply_group

log = logging.getLogger(__name__)

Result = VisitAnswer | LeadlineError
Pending = tuple[Work, "asyncio.Future[Result]"]


class TrackingWriter:
    def __init__(
        self,
        sync_url: str,
        *,
        capacity: int,
        group_limit: int = 20_000,
        restart_frames: int = 4096,
    ) -> None:
        """``capacity``: events (a visit start or end counts one) that may wait at once;
        ``group_limit``: the most events one transaction takes; ``restart_frames``: on
        SQLite, the pages of write-ahead log past which the log is made to start over."""
        self.sync_url = sync_url
        self.capacity = capacity
        self.group_limit = group_limit
        self._cond = threading.Condition()
        self._queue: deque[Pending] = deque()
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
        self._gate = threading.Lock()
        # The visits of the latest groups, changed next time without a read.
        self._visits = VisitCache()
        # Committed transactions and the requests they answered, and the groups applied
        # again because what they counted on did not hold (GroupConflict), for the curious.
        self.transactions = 0
        self.requests = 0
        self.stale_groups = 0

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
            self._queue.append((work, future))
            self._waiting += work.size
            self._cond.notify()
        result = await future
        if isinstance(result, LeadlineError):
            raise result
        return result

    @property
    def waiting(self) -> int:
        return self._waiting

    # ------------------------------------------------------------------ the writer's side

    def _take(self) -> list[Pending] | None:
        with self._cond:
            while not self._queue and not self._stopping:
                self._cond.wait()
            if not self._queue:
                return None
            group: list[Pending] = []
            taken = 0
            while self._queue and (not group or taken + self._queue[0][0].size <= self.group_limit):
                pending = self._queue.popleft()
                group.append(pending)
                taken += pending[0].size
            self._waiting -= taken
            return group

    def _run(self) -> None:
        try:
            while (group := self._take()) is not None:
                results = self._apply([work for work, _ in group])
                assert self._loop is not None
                try:
                    self._loop.call_soon_threadsafe(_answer, group, results)
                except RuntimeError:  # the loop is closed: nobody is waiting any more
                    return
        finally:
            self._close()

    def _apply(self, works: Sequence[Work]) -> list[Result]:
        try:
            return self._transaction(works)
        except _NoConnection:
            log.exception("tracking writer: no database connection")
            return [_unavailable() for _ in works]
        except Exception:
            log.exception("tracking writer: a transaction of %d requests failed", len(works))
        if len(works) == 1:
            return [_unavailable()]
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
        if self._store is None:
            self._store = self._connect()
        store = self._store
        try:
            with self._gate:  # see SqliteCheckpointer
                if self._checkpointer_failed and isinstance(store, SqliteStore):
                    store.connection.execute("PRAGMA wal_autocheckpoint=1000")
                try:
                    store.begin()
                    results, visits = apply_group(store, works, utcnow(), self._visits)
                    store.commit()
                except Exception as error:
                    if not store.conflicted(error):
                        raise
                    # Undo, forget what it remembered, and apply it again from the database.
                    store.rollback()
                    self._visits.forget(work.session_id for work in works if work.session_id)
                    self.stale_groups += 1
                    store.begin()
                    results, visits = apply_group(store, works, utcnow())
                    store.commit()
                self._visits.keep(visits)
                self.transactions += 1
                self.requests += len(works)
                return results
        except Exception:
            self._close()  # a connection that failed mid-transaction is not trusted again
            raise

    def _connect(self) -> TrackingStore:
        delay = 0.05
        while True:
            try:
                return open_store(self.sync_url)
            except Exception as exc:
                if delay > 2:
                    raise _NoConnection(str(exc)) from exc
                log.warning("tracking writer: cannot connect; retrying in %.2f s", delay)
                time.sleep(delay)
                delay *= 2

    def _close(self) -> None:
        self._visits.clear()
        store, self._store = self._store, None
        if store is None:
            return
        try:
            store.rollback()
            store.close()
        except Exception:
            log.debug("tracking writer: closing a failed connection", exc_info=True)


class _NoConnection(Exception):
    """The database could not be reached."""


def _unavailable() -> ServiceUnavailable:
    return ServiceUnavailable("the tracking data could not be stored; retry shortly", retry_after=5)


def _answer(group: list[Pending], results: list[Result]) -> None:
    for (_, future), result in zip(group, results, strict=True):
        if not future.done():  # the request may have been cancelled meanwhile
            future.set_result(result)
