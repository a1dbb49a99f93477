"""Sites by key, kept in memory for the routes that read a site on every request."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from functools import lru_cache

from leadline.db import Database
from leadline.sites import service
from leadline.sites.service import SiteInfo

log = logging.getLogger(__name__)


class SiteCache:
    """Sites by key, kept in memory (unknown keys too), so the tracking routes do not read the
    database on every request. An entry older than ``ttl`` seconds is still answered while one
    read of the database refreshes it in the background, so a change to a site's domains or
    settings reaches every process within ``ttl`` and a moment; requests that find no entry at
    all share one read.

    ``clock`` gives the time in seconds that entries expire by; a test passes one it moves by
    hand, so an entry expires when the test says and not when a loaded machine gets round to
    it."""

    def __init__(
        self,
        ttl: float = 10.0,
        size: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.size = size
        self.clock = clock
        self._entries: dict[str, tuple[float, SiteInfo | None]] = {}
        self._reads: dict[str, asyncio.Task[SiteInfo | None]] = {}
        # Bumped by every change heard: what a read begun before it found is not kept.
        self._generation = 0

    def forget(self, _topic: str = "") -> None:
        """Drop every entry (a change announced on ``kit.changes.SITES``: a workspace closed or
        restored)."""
        self._entries.clear()
        self._generation += 1

    async def get(self, database: Database, site_key: str) -> SiteInfo | None:
        entry = self._entries.get(site_key)
        if entry is not None:
            if entry[0] <= self.clock() and site_key not in self._reads:
                self._read(database, site_key)
            return entry[1]
        read = self._reads.get(site_key) or self._read(database, site_key)
        return await asyncio.shield(read)

    def _read(self, database: Database, site_key: str) -> asyncio.Task[SiteInfo | None]:
        read = asyncio.create_task(self._load(database, site_key), name=f"site {site_key}")
        self._reads[site_key] = read
        read.add_done_callback(lambda _: self._done(site_key, read))
        return read

    def _done(self, site_key: str, read: asyncio.Task[SiteInfo | None]) -> None:
        self._reads.pop(site_key, None)
        if not read.cancelled() and (error := read.exception()) is not None:
            # The old entry, if any, is answered until a later request reads again.
            log.warning("site %s could not be read: %s", site_key, error)

    async def _load(self, database: Database, site_key: str) -> SiteInfo | None:
        generation = self._generation
        async with database.transaction() as session:
            found = await service.site_by_key(session, site_key)
        if generation != self._generation:
            return found
        if len(self._entries) >= self.size:
            self._entries.clear()
        self._entries[site_key] = (self.clock() + self.ttl, found)
        return found


class PageHosts:
    """The hosts of the pages requests come from, parsed once each for the routes that ask on
    every request: a site's requests carry few distinct Origins. Only short pages are kept, so
    that requests with made-up headers cannot fill the memory."""

    KEPT_PAGE = 300

    def __init__(self, size: int = 4096) -> None:
        self._host_of = lru_cache(maxsize=size)(service.host_of)

    def host(self, origin: str | None, referer: str | None) -> str | None:
        page = service.page_of(origin, referer)
        if page is None:
            return None
        return self._host_of(page) if len(page) <= self.KEPT_PAGE else service.host_of(page)
