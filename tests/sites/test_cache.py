"""The site cache the tracking routes read sites through: expiry, one read for many requests,
and a failed refresh."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from leadline.config import Settings
from leadline.db import Database
from leadline.sites import service as sites
from leadline.sites.cache import SiteCache
from leadline.sites.service import SiteInfo
from tests.fixtures.factories import make_site
from tests.fixtures.waiting import BOUND, EVERY, eventually

TTL = 10.0


class Clock:
    """The cache's clock, moved by the test: an entry expires when the test says, however
    long the machine takes between two steps."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@contextlib.asynccontextmanager
async def database(settings: Settings) -> AsyncIterator[Database]:
    db = Database(settings)
    try:
        yield db
    finally:
        await db.dispose()


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The site keys the cache reads from the database, in order."""
    seen: list[str] = []
    real = sites.site_by_key

    async def counted(session: AsyncSession, site_key: str) -> Any:
        seen.append(site_key)
        return await real(session, site_key)

    monkeypatch.setattr(sites, "site_by_key", counted)
    return seen


async def respect_dnt(db: Database, key: str) -> None:
    async with db.transaction() as session:
        await session.execute(
            text("UPDATE sites SET respect_dnt = true WHERE site_key = :key"), {"key": key}
        )


async def refreshed(cache: SiteCache, db: Database, key: str) -> SiteInfo | None:
    """Ask until the answer shows the change respect_dnt made, that is until the read running
    behind the stale answers has stored its entry. The clock stands still meanwhile, so the
    asking starts no read of its own: the entry stays expired while the read runs (which is
    then in flight) and is fresh after."""
    deadline = time.monotonic() + BOUND
    while not ((found := await cache.get(db, key)) and found.site.respect_dnt):
        assert time.monotonic() < deadline, "no read behind the stale answers stored the change"
        await asyncio.sleep(EVERY)
    return found


def test_an_expired_site_is_answered_while_it_is_read_again(
    settings: Settings, reads: list[str]
) -> None:
    key = make_site(settings, "acme", "shop.example")

    async def scenario() -> list[bool]:
        clock = Clock()
        cache = SiteCache(ttl=TTL, clock=clock)
        async with database(settings) as db:
            first = await cache.get(db, key)
            await respect_dnt(db, key)
            clock.advance(TTL - 0.5)
            cached = await cache.get(db, key)  # within the expiry: not read again
            clock.advance(0.5)
            stale = await cache.get(db, key)  # expired: answered at once, read behind it
            fresh = await refreshed(cache, db, key)
        return [found.site.respect_dnt for found in (first, cached, stale, fresh) if found]

    assert asyncio.run(scenario()) == [False, False, False, True]
    assert reads == [key, key]


def test_requests_that_find_no_entry_share_one_read(settings: Settings, reads: list[str]) -> None:
    key = make_site(settings, "acme", "shop.example")

    async def scenario() -> list[Any]:
        cache = SiteCache(clock=Clock())  # nothing expires while they ask
        async with database(settings) as db:
            found = await asyncio.gather(*(cache.get(db, key) for _ in range(20)))
            unknown = [await cache.get(db, "LL-NOPE") for _ in range(3)]
        return [*found, *unknown]

    answers = asyncio.run(scenario())
    assert {found.site.site_key for found in answers[:20]} == {key}
    assert answers[20:] == [None, None, None]  # unknown keys are kept too
    assert reads == [key, "LL-NOPE"]


def test_a_refresh_that_fails_keeps_the_old_entry(
    settings: Settings, reads: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    key = make_site(settings, "acme", "shop.example")
    broken = Settings(database_url="sqlite:////nonexistent/dir/leadline.db")

    failed = f"site {key} could not be read"

    async def scenario() -> list[Any]:
        clock = Clock()
        cache = SiteCache(ttl=TTL, clock=clock)
        async with database(settings) as db, database(broken) as unreachable:
            first = await cache.get(db, key)
            clock.advance(TTL)
            stale = await cache.get(unreachable, key)  # its refresh fails
            # The failure is logged as its read ends, so the next request may read again.
            await eventually(lambda: failed in caplog.text, "the failed refresh is logged")
            await respect_dnt(db, key)
            again = await cache.get(db, key)  # still expired: read again, from a good one
            fresh = await refreshed(cache, db, key)
        return [first, stale, again, fresh]

    first, stale, again, fresh = asyncio.run(scenario())
    assert first is not None
    assert stale == first
    assert again == first  # the old entry is answered while the good read runs
    assert fresh is not None
    assert fresh.site.respect_dnt
    assert reads == [key, key, key]
    assert failed in caplog.text


def test_a_change_heard_drops_every_entry_and_what_a_read_under_way_found(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = make_site(settings, "acme", "shop.example")
    cache = SiteCache(clock=Clock())  # nothing expires on its own
    seen: list[str] = []
    real = sites.site_by_key

    async def read_then_hear_a_change(session: AsyncSession, site_key: str) -> Any:
        seen.append(site_key)
        found = await real(session, site_key)
        if len(seen) == 2:
            cache.forget()  # the workspace closed while this read ran
        return found

    monkeypatch.setattr(sites, "site_by_key", read_then_hear_a_change)

    async def scenario() -> None:
        async with database(settings) as db:
            await cache.get(db, key)
            await cache.get(db, key)  # kept: no read
            cache.forget()
            await cache.get(db, key)  # read again, and that read is not kept
            await cache.get(db, key)  # so this one reads too
            await cache.get(db, key)

    asyncio.run(scenario())
    assert seen == [key, key, key]


def test_a_site_knows_whether_its_workspace_is_closed(settings: Settings) -> None:
    key = make_site(settings, "acme", "shop.example")

    async def scenario() -> list[bool]:
        cache = SiteCache(clock=Clock())
        async with database(settings) as db:
            before = await cache.get(db, key)
            async with db.transaction() as session:
                await session.execute(text("UPDATE workspaces SET status = 'closed'"))
            cache.forget()
            after = await cache.get(db, key)
        assert before is not None
        assert after is not None
        return [before.workspace_closed, after.workspace_closed]

    assert asyncio.run(scenario()) == [False, True]
