"""Answers read from the database, kept in memory until what they answer changes.

An entry (an answer, or the fact that there is none: negative answers are kept too) lives
``ttl`` seconds (60) while the process hears the other processes' changes (``ChangeBus``
subscribed to Redis), ``short_ttl`` (one second) otherwise: a change made in another process
that this one cannot hear reaches it within that second. A change announced on one of the
cache's topics makes it forget everything at once, and a read that began before the change is
not kept (nor shared with later requests).

Requests that find no entry share one read. Once an entry has lived half its life, the first
request that finds it starts a read in the background and is answered from the entry, so a key
asked for steadily is never waited on; an entry is never answered after its life. A read that
fails is logged; requests waiting on it get its error, and an entry it was refreshing is
answered until it expires.

``clock`` gives the time in seconds that entries expire by; a test passes one it moves by hand.
Look-ups are counted as hits and misses under ``name`` (``leadline_cache_lookups_total``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Generic, TypeVar

from leadline.kit import metrics
from leadline.kit.changes import ChangeBus

log = logging.getLogger(__name__)

C = TypeVar("C")
V = TypeVar("V")


class _Entry(Generic[V]):
    __slots__ = ("expires", "refresh_at", "value")

    def __init__(self, expires: float, refresh_at: float, value: V) -> None:
        self.expires = expires
        self.refresh_at = refresh_at
        self.value = value


class ReadCache(Generic[C, V]):
    """``load(context, key)`` (the context is what a read needs, a database say) kept by key;
    see the module's docstring for the rules."""

    def __init__(
        self,
        load: Callable[[C, str], Awaitable[V]],
        bus: ChangeBus | None = None,
        topics: Iterable[str] = (),
        *,
        ttl: float = 60.0,
        short_ttl: float = 1.0,
        size: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
        what: str = "entry",
        name: str | None = None,
    ) -> None:
        self.load = load
        self.bus = bus
        self.ttl = ttl
        self.short_ttl = short_ttl
        self.size = size
        self.clock = clock
        self.what = what
        # [hits, misses], counted for /metrics.
        self._tally = metrics.caches.tally(name or what)
        self._entries: dict[str, _Entry[V]] = {}
        self._reads: dict[str, asyncio.Task[V]] = {}
        # Every read under way, forgotten ones too: the event loop keeps none of them alive.
        self._running: set[asyncio.Task[V]] = set()
        # Bumped by every change heard: a read that began before it must not be kept.
        self._generation = 0
        if bus is not None:
            for topic in topics:
                bus.listen(topic, self.forget)

    @property
    def lifetime(self) -> float:
        return self.ttl if self.bus is not None and self.bus.listening else self.short_ttl

    def __len__(self) -> int:
        return len(self._entries)

    def forget(self, _topic: str = "") -> None:
        self._entries.clear()
        # Reads under way may have read what just changed: later requests start their own.
        self._reads.clear()
        self._generation += 1

    async def get(self, context: C, key: str) -> V:
        entry = self._entries.get(key)
        if entry is not None:
            now = self.clock()
            if now < entry.expires:
                if now >= entry.refresh_at and key not in self._reads:
                    self._read(context, key)
                self._tally[0] += 1
                return entry.value
        self._tally[1] += 1
        read = self._reads.get(key) or self._read(context, key)
        return await asyncio.shield(read)

    def _read(self, context: C, key: str) -> asyncio.Task[V]:
        read = asyncio.create_task(self._load(context, key), name=f"{self.what} {key}")
        self._reads[key] = read
        self._running.add(read)
        read.add_done_callback(functools.partial(self._done, key))
        return read

    def _done(self, key: str, read: asyncio.Task[V]) -> None:
        self._running.discard(read)
        if self._reads.get(key) is read:
            del self._reads[key]
        if not read.cancelled() and (error := read.exception()) is not None:
            log.warning("%s %s could not be read: %s", self.what, key, error)

    async def _load(self, context: C, key: str) -> V:
        # Expiry counts from before the read: what it finds may change the moment after.
        started = self.clock()
        lifetime = self.lifetime
        generation = self._generation
        value = await self.load(context, key)
        if generation == self._generation:
            if len(self._entries) >= self.size:
                self._entries.clear()
            self._entries[key] = _Entry(started + lifetime, started + lifetime / 2, value)
        return value
