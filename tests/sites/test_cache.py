"""The site cache the tracking routes read sites through: expiry, one read for many requests,
and a failed refresh."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from leadline.config import Settings
from leadline.db import Database
from leadline.sites import service as sites
from leadline.sites.cache import SiteCache
from tests.fixtures.factories import make_site


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


def test_an_expired_site_is_answered_while_it_is_read_again(
    settings: Settings, reads: list[str]
) -> None:
    key = make_site(settings, "acme", "shop.example")

    async def scenario() -> list[bool]:
        cache = SiteCache(ttl=0.2)
        async with database(settings) as db:
            first = await cache.get(db, key)
            await respect_dnt(db, key)
            cached = await cache.get(db, key)  # within the expiry: not read again
            await asyncio.sleep(0.25)
            stale = await cache.get(db, key)  # expired: answered at once, read behind it
            await asyncio.sleep(0.1)
            fresh = await cache.get(db, key)
        return [found.site.respect_dnt for found in (first, cached, stale, fresh) if found]

    assert asyncio.run(scenario()) == [False, False, False, True]
    assert reads == [key, key]


def test_requests_that_find_no_entry_share_one_read(settings: Settings, reads: list[str]) -> None:
    key = make_site(settings, "acme", "shop.example")

    async def scenario() -> list[Any]:
        cache = SiteCache()
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

    async def scenario() -> list[Any]:
        cache = SiteCache(ttl=0.05)
        async with database(settings) as db, database(broken) as unreachable:
            first = await cache.get(db, key)
            await asyncio.sleep(0.1)
            stale = await cache.get(unreachable, key)  # its refresh fails
            await asyncio.sleep(0.1)
            again = await cache.get(db, key)  # still expired: read again, from a good one
            await asyncio.sleep(0.1)
        return [first, stale, again]

    first, stale, again = asyncio.run(scenario())
    assert first is not None
    assert stale == first
    assert again == first
    assert reads == [key, key, key]
    assert f"site {key} could not be read" in caplog.text
