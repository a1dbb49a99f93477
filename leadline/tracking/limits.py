"""Per-IP limits of the tracking routes: fixed windows of a minute, as PulseGate documents them,
counted in memory or, shared by processes, in Redis."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from limits import RateLimitItemPerMinute
from limits.aio.strategies import FixedWindowRateLimiter
from limits.errors import StorageError
from limits.storage import storage_from_string

from leadline.kit.ratelimit import storage_url

log = logging.getLogger(__name__)

# Requests per IP per minute, per route.
PER_MINUTE: dict[str, int] = {
    "session/start": 10,
    "session/end": 10,
    "event": 120,
    "events/batch": 30,
}


@dataclass(frozen=True)
class Limit:
    allowed: bool
    remaining: int
    reset_at: int
    retry_after: int


class TrackingLimiter:
    def __init__(self, redis_url: str | None, whitelist: frozenset[str] = frozenset()) -> None:
        self.storage = storage_from_string(storage_url(redis_url))
        self.limiter = FixedWindowRateLimiter(self.storage)
        self.whitelist = whitelist
        self.items = {name: RateLimitItemPerMinute(n) for name, n in PER_MINUTE.items()}

    async def hit(self, route: str, ip: str) -> Limit | None:
        """Count a request; None when it is not counted (whitelisted, or the store is down)."""
        if ip in self.whitelist:
            return None
        item = self.items[route]
        try:
            allowed = await self.limiter.hit(item, "track", route, ip)
            stats = await self.limiter.get_window_stats(item, "track", route, ip)
        except StorageError:
            log.warning("the rate-limit store is unreachable; tracking requests pass uncounted")
            return None
        reset_at = int(stats.reset_time)
        return Limit(
            allowed=allowed,
            remaining=stats.remaining,
            reset_at=reset_at,
            retry_after=max(1, reset_at - int(time.time())),
        )
