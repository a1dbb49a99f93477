"""The limit on failed sign-in attempts, per account (the address typed) and per client IP, in
memory or, shared by every process, in Redis. Only failures count; while either counter is
full, every attempt is refused, a right password too, until failures leave the window."""

from __future__ import annotations

from leadline.errors import RateLimited
from leadline.kit.ratelimit import RateLimiter

PER_ACCOUNT = 5
PER_IP = 20
WINDOW_MINUTES = 15


class SignInAttempts:
    def __init__(
        self,
        redis_url: str | None,
        *,
        per_account: int = PER_ACCOUNT,
        per_ip: int = PER_IP,
        minutes: int = WINDOW_MINUTES,
    ) -> None:
        self.accounts = RateLimiter(
            per_account, redis_url, namespace="signin-account", minutes=minutes
        )
        self.ips = RateLimiter(per_ip, redis_url, namespace="signin-ip", minutes=minutes)

    async def check(self, account: str, ip: str) -> None:
        """Refuse (429) when the account or the IP has failed too often lately."""
        for limiter, identity, what in (
            (self.accounts, account, "this account"),
            (self.ips, ip, "this address"),
        ):
            status = await limiter.peek(identity)
            if status is not None and not status.allowed:
                raise RateLimited(
                    f"too many failed sign-ins for {what}; try again in "
                    f"{_minutes(status.retry_after)}",
                    retry_after=status.retry_after,
                )

    async def failed(self, account: str, ip: str) -> None:
        await self.accounts.hit(account)
        await self.ips.hit(ip)

    async def aclose(self) -> None:
        await self.accounts.aclose()
        await self.ips.aclose()


def _minutes(seconds: int) -> str:
    minutes = max(1, -(-seconds // 60))
    return "a minute" if minutes == 1 else f"{minutes} minutes"
