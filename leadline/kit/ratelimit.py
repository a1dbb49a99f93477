"""Requests per identity per minute, counted in memory or, shared by processes, in Redis.

A moving window: a request counts for the 60 seconds after it was made, so a client can never
send twice the limit across the boundary of two fixed minutes.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass
from typing import Any

import redis.asyncio
from limits import RateLimitItemPerMinute
from limits.aio.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter
from limits.errors import StorageError
from limits.storage import storage_from_string

log = logging.getLogger(__name__)

# An unreachable Redis must not hold every request for long, nor be asked again at once.
REDIS_TIMEOUT_SECONDS = 0.5
RETRY_REDIS_AFTER_SECONDS = 5.0


@dataclass(frozen=True)
class RateStatus:
    """Where an identity stands after a request: ``allowed`` says whether it was counted."""

    limit: int
    remaining: int
    reset_at: int  # epoch seconds at which the oldest counted request leaves the window
    retry_after: int  # seconds to wait before a refused request may be sent again
    allowed: bool

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset_at),
        }


def storage_url(redis_url: str | None) -> str:
    """The ``limits`` storage for a Redis URL as people write it, or memory without one."""
    if not redis_url:
        return "async+memory://"
    if redis_url.startswith("unix://"):
        return "async+redis+unix://" + redis_url.removeprefix("unix://")
    return "async+" + redis_url


class RateLimiter:
    """``per_minute`` requests per identity, in ``namespace``.

    When Redis is configured but cannot be reached, requests are let through uncounted (with
    a warning in the log, at most every few seconds) rather than refused: a rate limit is not
    worth an outage.
    """

    def __init__(
        self,
        per_minute: int,
        redis_url: str | None,
        *,
        namespace: str,
        fixed_window: bool = False,
        minutes: int = 1,
    ) -> None:
        # ``minutes`` widens the window: ``per_minute`` requests per that many minutes.
        self.item = RateLimitItemPerMinute(per_minute, minutes, namespace=namespace)
        # A fixed window counts calendar minutes (cheaper); the default moving window does not
        # let a client send twice the limit across a minute boundary.
        self.strategy_class: type[MovingWindowRateLimiter | FixedWindowRateLimiter] = (
            FixedWindowRateLimiter if fixed_window else MovingWindowRateLimiter
        )
        self.url = storage_url(redis_url)
        self.redis_url = redis_url or None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._strategy: MovingWindowRateLimiter | FixedWindowRateLimiter | None = None
        self._pool: redis.asyncio.ConnectionPool | None = None
        self._skip_until = 0.0

    def _current(self) -> MovingWindowRateLimiter | FixedWindowRateLimiter:
        # Storage clients belong to the event loop that made them; a new loop gets its own.
        loop = asyncio.get_running_loop()
        if self._strategy is None or self._loop is not loop:
            options: dict[str, Any] = {"wrap_exceptions": True}
            if self.redis_url is not None:
                # Our own pool, so that aclose() can hand its connections back.
                self._pool = redis.asyncio.ConnectionPool.from_url(
                    self.redis_url,
                    socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
                    socket_timeout=REDIS_TIMEOUT_SECONDS,
                )
                options.update(implementation="redispy", connection_pool=self._pool)
            self._strategy = self.strategy_class(storage_from_string(self.url, **options))
            self._loop = loop
        return self._strategy

    async def aclose(self) -> None:
        """Close the Redis connections opened in the running event loop."""
        if self._pool is not None and self._loop is asyncio.get_running_loop():
            await self._pool.aclose()
        self._pool = None
        self._strategy = None
        self._loop = None

    async def hit(self, identity: str) -> RateStatus | None:
        """Count one request of ``identity``; None when the counter cannot be reached."""
        return await self._ask(identity, count=True)

    async def peek(self, identity: str) -> RateStatus | None:
        """Whether one more request of ``identity`` would be allowed, counting nothing (for
        limits that count only failures); None when the counter cannot be reached."""
        return await self._ask(identity, count=False)

    async def _ask(self, identity: str, *, count: bool) -> RateStatus | None:
        if time.monotonic() < self._skip_until:
            return None
        strategy = self._current()
        try:
            if count:
                allowed = await strategy.hit(self.item, identity)
            else:
                allowed = await strategy.test(self.item, identity)
            stats = await strategy.get_window_stats(self.item, identity)
        except (StorageError, OSError) as exc:
            self._skip_until = time.monotonic() + RETRY_REDIS_AFTER_SECONDS
            log.warning(
                "rate-limit counter unreachable, letting requests through uncounted for %.0f s: %s",
                RETRY_REDIS_AFTER_SECONDS,
                exc,
            )
            return None
        now = time.time()
        reset_at = max(stats.reset_time, now)
        return RateStatus(
            limit=self.item.amount,
            remaining=max(0, stats.remaining),
            reset_at=math.ceil(reset_at),
            retry_after=max(1, math.ceil(reset_at - now)),
            allowed=allowed,
        )
