"""Per-IP limits of the tracking routes: fixed windows of a minute, as PulseGate documents them,
counted in memory or, shared by processes, in Redis (see leadline.kit.ratelimit)."""

from __future__ import annotations

from leadline.kit.ratelimit import RateLimiter, RateStatus

# Requests per IP per minute, per route.
PER_MINUTE: dict[str, int] = {
    "session/start": 10,
    "session/end": 10,
    "event": 120,
    "events/batch": 30,
    # The chat widget's public endpoints (leadline.surfaces.widget): an open widget polls its
    # conversation every 2-3 s.
    "widget/config": 30,
    "widget/start": 10,
    "widget/send": 30,
    "widget/poll": 60,
    "widget/identify": 10,
    # A stream is one request per connection (and per reconnection); typing is sent at
    # most every few seconds while a visitor types.
    "widget/stream": 30,
    "widget/typing": 30,
}


class TrackingLimiter:
    def __init__(self, redis_url: str | None, whitelist: frozenset[str] = frozenset()) -> None:
        self.whitelist = whitelist
        self.limiters = {
            route: RateLimiter(n, redis_url, namespace=f"track/{route}", fixed_window=True)
            for route, n in PER_MINUTE.items()
        }

    async def hit(self, route: str, ip: str) -> RateStatus | None:
        """Count a request; None when it is not counted (whitelisted, or the store is down)."""
        if ip in self.whitelist:
            return None
        return await self.limiters[route].hit(ip)
