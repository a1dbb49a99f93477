"""The principals of API keys, kept in memory so that a request with a known key reads no
database.

A key's principal (or the fact that no active key has its digest) is kept for ``ttl`` seconds
after it was read. Revoking a key, or changing a workspace, announces ``principals`` (see
``kit.changes``): every cache of the process forgets everything at once, and, with Redis
configured, so does every other process. Without Redis, or while the subscription is down,
another process hears nothing and its entries expire after ``short_ttl`` (one second): a key
revoked there stops working here within that second. With the subscription up, entries live
``ttl`` (60 seconds) as a safety net.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable

from leadline.auth import service
from leadline.auth.service import Principal
from leadline.db import Database
from leadline.errors import Unauthorized
from leadline.kit import metrics, tokens
from leadline.kit.changes import PRINCIPALS, ChangeBus

TOPIC = PRINCIPALS

# A principal, or why there is none (the message of the Unauthorized to raise: an exception
# raised again and again would keep every traceback it went through).
Found = Principal | str


class PrincipalCache:
    def __init__(
        self,
        bus: ChangeBus | None = None,
        *,
        ttl: float = 60.0,
        short_ttl: float = 1.0,
        size: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.bus = bus
        self.ttl = ttl
        self.short_ttl = short_ttl
        self.size = size
        self.clock = clock
        self._entries: dict[str, tuple[float, Found]] = {}
        self._reads: dict[str, asyncio.Task[Found]] = {}
        # Bumped by every change heard: a read that began before it must not be kept.
        self._generation = 0
        # [hits, misses], counted for /metrics.
        self._tally = metrics.caches.tally("api_keys")
        if bus is not None:
            bus.listen(TOPIC, self.forget)

    def forget(self, _topic: str = TOPIC) -> None:
        self._entries.clear()
        # A read under way may have read the key before the change: later requests read anew.
        self._reads.clear()
        self._generation += 1

    @property
    def lifetime(self) -> float:
        return self.ttl if self.bus is not None and self.bus.listening else self.short_ttl

    async def authenticate(self, database: Database, token: str | None) -> Principal:
        """The principal of ``token``; Unauthorized as ``service.authenticate`` says."""
        if not token or not token.strip():
            raise Unauthorized("missing API key: send it in the X-API-KEY header")
        digest = tokens.digest(token.strip())
        entry = self._entries.get(digest)
        if entry is not None and entry[0] > self.clock():
            self._tally[0] += 1
            found = entry[1]
        else:
            self._tally[1] += 1
            read = self._reads.get(digest)
            if read is None:
                read = asyncio.create_task(self._read(database, token, digest))
                self._reads[digest] = read
                read.add_done_callback(functools.partial(self._done, digest))
            found = await asyncio.shield(read)
        if isinstance(found, str):
            raise Unauthorized(found)
        return found

    def _done(self, digest: str, read: asyncio.Task[Found]) -> None:
        if self._reads.get(digest) is read:
            del self._reads[digest]

    async def _read(self, database: Database, token: str, digest: str) -> Found:
        # Expiry counts from before the read: what it finds may change the moment after.
        expires = self.clock() + self.lifetime
        generation = self._generation
        found: Found
        try:
            async with database.transaction() as session:
                found = await service.authenticate(session, token)
        except Unauthorized as exc:
            found = exc.message
        if generation == self._generation:
            if len(self._entries) >= self.size:
                self._entries.clear()
            self._entries[digest] = (expires, found)
        return found
