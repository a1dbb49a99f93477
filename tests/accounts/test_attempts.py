"""The limit on failed sign-ins: only failures count, per account and per IP, and with Redis
every process shares the counters."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from leadline.accounts.attempts import SignInAttempts
from leadline.errors import RateLimited


async def _fail(attempts: SignInAttempts, account: str, ip: str, times: int) -> None:
    for _ in range(times):
        await attempts.check(account, ip)
        await attempts.failed(account, ip)


def test_checking_counts_nothing_and_failures_fill_the_window() -> None:
    async def run() -> None:
        attempts = SignInAttempts(None, per_account=3, per_ip=5)
        for _ in range(10):
            await attempts.check("ada@example.com", "192.0.2.1")
        await _fail(attempts, "ada@example.com", "192.0.2.1", 3)
        with pytest.raises(RateLimited, match="this account") as refused:
            await attempts.check("ada@example.com", "192.0.2.2")
        assert 0 < refused.value.retry_after <= 15 * 60
        # The same IP, other accounts: two more failures fill the IP's window.
        await _fail(attempts, "bob@example.com", "192.0.2.1", 2)
        with pytest.raises(RateLimited, match="this address"):
            await attempts.check("eve@example.com", "192.0.2.1")
        await attempts.check("eve@example.com", "192.0.2.9")

    asyncio.run(run())


def test_with_redis_every_process_counts_the_same_failures(redis_url: str) -> None:
    account, ip = f"{uuid.uuid4().hex}@example.com", f"test-{uuid.uuid4().hex}"

    async def run() -> None:
        one, two = SignInAttempts(redis_url), SignInAttempts(redis_url)
        try:
            await _fail(one, account, ip, 3)
            await _fail(two, account, ip, 2)
            for either in (one, two):
                with pytest.raises(RateLimited):
                    await either.check(account, ip)
        finally:
            await one.aclose()
            await two.aclose()

    asyncio.run(run())
