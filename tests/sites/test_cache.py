"""The site caches: sites by key for the tracking routes, and what a capture checks of its
sender. Expiry (long while the process hears Redis, one second otherwise), the read behind an
answer at half an entry's life, one read for many requests, a failed read, and changes: heard
at once in the process that made them, through Redis from another, after the short expiry when
not heard at all, and never when rolled back."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from leadline.audit.service import Actor
from leadline.config import Settings
from leadline.db import Database
from leadline.kit import changes
from leadline.kit.changes import SITES, ChangeBus
from leadline.sites import ip_rules
from leadline.sites import service as sites
from leadline.sites.cache import CaptureSites, SiteCache
from leadline.sites.service import DomainDenied, SiteInfo
from tests.fixtures.factories import make_form, make_site, run_in_transaction
from tests.fixtures.waiting import BOUND, EVERY, eventually

TTL = 10.0
EMAIL = {"name": "EMAIL", "type": "email", "label": "Email"}
FORM = {"fields": [EMAIL], "thank_you_url": "https://shop.example/ok"}


class Clock:
    """The caches' clock, moved by the test: an entry expires when the test says, however
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
    """The site keys the caches read from the database, in order."""
    seen: list[str] = []
    real = sites.site_by_key

    async def counted(session: AsyncSession, site_key: str) -> Any:
        seen.append(site_key)
        return await real(session, site_key)

    monkeypatch.setattr(sites, "site_by_key", counted)
    return seen


@pytest.fixture
def bus() -> ChangeBus:
    """This process's bus, hearing no other process (no Redis)."""
    changes.configure(None)
    return ChangeBus()


async def respect_dnt(db: Database, key: str) -> None:
    """A change made where no cache hears it (another process without Redis)."""
    async with db.transaction() as session:
        await session.execute(
            text("UPDATE sites SET respect_dnt = true WHERE site_key = :key"), {"key": key}
        )


async def quietly(db: Database, statement: str, **values: Any) -> None:
    async with db.transaction() as session:
        await session.execute(text(statement), values)


async def refreshed(cache: SiteCache, db: Database, key: str) -> SiteInfo | None:
    """Ask until the answer shows the change respect_dnt made, that is until the read running
    behind the answers has stored its entry. The clock stands still meanwhile, so the asking
    starts no read of its own while that read is in flight."""
    deadline = time.monotonic() + BOUND
    while not ((found := await cache.get(db, key)) and found.site.respect_dnt):
        assert time.monotonic() < deadline, "no read behind the answers stored the change"
        await asyncio.sleep(EVERY)
    return found


# ------------------------------------------------------------------ sites for tracking


def test_a_site_past_half_its_life_is_answered_while_it_is_read_again(
    settings: Settings, reads: list[str]
) -> None:
    key = make_site(settings, "acme", "shop.example")

    async def scenario() -> list[bool]:
        clock = Clock()
        cache = SiteCache(short_ttl=TTL, clock=clock)
        async with database(settings) as db:
            first = await cache.get(db, key)
            await respect_dnt(db, key)
            clock.advance(TTL / 2 - 0.5)
            cached = await cache.get(db, key)  # young: not read again
            clock.advance(0.5)
            behind = await cache.get(db, key)  # half its life: answered, read behind it
            fresh = await refreshed(cache, db, key)
        return [found.site.respect_dnt for found in (first, cached, behind, fresh) if found]

    assert asyncio.run(scenario()) == [False, False, False, True]
    assert reads == [key, key]


def test_an_expired_site_is_never_answered(settings: Settings, reads: list[str]) -> None:
    key = make_site(settings, "acme", "shop.example")

    async def scenario() -> list[bool]:
        clock = Clock()
        cache = SiteCache(short_ttl=TTL, clock=clock)
        async with database(settings) as db:
            first = await cache.get(db, key)
            await respect_dnt(db, key)
            clock.advance(TTL)
            expired = await cache.get(db, key)  # waits for the read
        return [found.site.respect_dnt for found in (first, expired) if found]

    assert asyncio.run(scenario()) == [False, True]
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


def test_a_refresh_that_fails_keeps_the_old_entry_until_it_expires(
    settings: Settings, reads: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    key = make_site(settings, "acme", "shop.example")
    broken = Settings(database_url="sqlite:////nonexistent/dir/leadline.db")

    failed = f"site {key} could not be read"

    async def scenario() -> list[Any]:
        clock = Clock()
        cache = SiteCache(short_ttl=TTL, clock=clock)
        async with database(settings) as db, database(broken) as unreachable:
            first = await cache.get(db, key)
            clock.advance(TTL / 2)
            behind = await cache.get(unreachable, key)  # the read behind it fails
            # The failure is logged as its read ends, so the next request may read again.
            await eventually(lambda: failed in caplog.text, "the failed refresh is logged")
            await respect_dnt(db, key)
            again = await cache.get(db, key)  # still alive: answered, read again behind it
            fresh = await refreshed(cache, db, key)
            clock.advance(TTL)
            with pytest.raises(Exception, match="unable to open database file"):
                await cache.get(unreachable, key)  # expired: never answered, read fails
        return [first, behind, again, fresh]

    first, behind, again, fresh = asyncio.run(scenario())
    assert first is not None
    assert behind == first
    assert again == first
    assert fresh is not None
    assert fresh.site.respect_dnt
    assert reads == [key, key, key, key]
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


def test_a_site_changed_or_deleted_through_the_service_is_forgotten_at_once(
    settings: Settings, reads: list[str], bus: ChangeBus
) -> None:
    key = make_site(settings, "acme", "shop.example")

    async def scenario() -> list[Any]:
        cache = SiteCache(bus, clock=Clock())  # nothing expires: only a change is heard
        async with database(settings) as db:
            first = await cache.get(db, key)
            assert first is not None
            async with db.transaction() as session:
                await sites.update_site_settings(session, key, {"respect_dnt": True})
            changed = await cache.get(db, key)
            async with db.transaction() as session:
                await sites.delete_site(session, first.workspace_id, first.site_id, Actor.cli())
            deleted = await cache.get(db, key)
        return [first.site.respect_dnt, changed and changed.site.respect_dnt, deleted]

    assert asyncio.run(scenario()) == [False, True, None]
    assert reads == [key, key, key, key]  # the cache's three, and update_site_settings's


def test_a_change_rolled_back_is_not_heard(
    settings: Settings, reads: list[str], bus: ChangeBus
) -> None:
    key = make_site(settings, "acme", "shop.example", "old.example")
    heard: list[str] = []
    bus.listen(SITES, heard.append)

    async def remove_then_fail(db: Database, found: SiteInfo) -> None:
        async with db.transaction() as session:
            managed = await sites.managed_site(session, found.workspace_id, found.site_id)
            old = next(row for row in managed.domains if row.domain == "old.example")
            await sites.remove_domain(
                session, found.workspace_id, found.site_id, old.id, Actor.cli()
            )
            raise RuntimeError("the request failed after the change")

    async def scenario() -> None:
        cache = SiteCache(bus, clock=Clock())
        async with database(settings) as db:
            found = await cache.get(db, key)
            assert found is not None
            with pytest.raises(RuntimeError):
                await remove_then_fail(db, found)
            again = await cache.get(db, key)
            assert again is not None
            assert again.domains == ["old.example", "shop.example"]

    asyncio.run(scenario())
    assert heard == []
    assert reads == [key]


# ----------------------------------------------------------- what a capture checks


class Counting(Database):
    """A database that counts the transactions opened through it."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.opened = 0

    def transaction(self):  # type: ignore[no-untyped-def]
        self.opened += 1
        return super().transaction()


def run_with(settings: Settings, scenario: Callable[[Counting], Awaitable[Any]]) -> Any:
    async def run() -> Any:
        db = Counting(settings)
        try:
            return await scenario(db)
        finally:
            await db.dispose()

    return asyncio.run(run())


def test_a_capture_reads_its_site_form_and_rules_once(settings: Settings) -> None:
    key = make_site(settings, "acme", "shop.example")
    make_form(settings, key, FORM)
    make_form(settings, key, {"fields": [EMAIL]}, form_id="bare")
    run_in_transaction(settings, lambda session: _block(session, "acme", "203.0.113.0/24"))

    async def scenario(db: Counting) -> tuple[list[Any], int]:
        checks = CaptureSites(clock=Clock())
        answers: list[Any] = []
        for _ in range(5):
            site = await checks.for_page(db, key, "shop.example")
            rules = await checks.address_rules(db, site.workspace_id)
            answers.append((dict(site.forms), site.principal.workspace.slug))
            answers.append((rules.kind_for("203.0.113.9"), rules.kind_for("192.0.2.1")))
        for host in ("blog.example", "blog.example"):
            with pytest.raises(DomainDenied, match="not one of this site's domains"):
                await checks.for_page(db, key, host)
        for _ in range(3):
            with pytest.raises(DomainDenied, match="unknown siteKey"):
                await checks.for_page(db, "LL-NOPE", "shop.example")
        return answers, db.opened

    answers, opened = run_with(settings, scenario)
    assert answers[0] == ({"enquiry": "https://shop.example/ok", "bare": None}, "acme")
    assert answers[1] == ("block", None)
    assert set(map(repr, answers)) == set(map(repr, answers[:2]))
    assert opened == 3  # the site, the workspace's rules, the unknown key: each once


async def _block(session: AsyncSession, slug: str, network: str) -> None:
    await ip_rules.add_ip_rule(session, slug, network, "block", actor=Actor.cli())


def test_a_change_elsewhere_reaches_a_capture_after_the_short_expiry(
    settings: Settings,
) -> None:
    key = make_site(settings, "acme", "shop.example", "old.example")
    make_form(settings, key, FORM)

    async def scenario(db: Counting) -> list[Any]:
        clock = Clock()
        checks = CaptureSites(clock=clock, short_ttl=1.0)
        seen: list[Any] = []
        site = await checks.for_page(db, key, "old.example")
        seen.append(sorted(site.forms))
        # Another process, heard by no one: a domain and the form go.
        await quietly(db, "DELETE FROM site_domains WHERE domain = 'old.example'")
        await quietly(db, "UPDATE site_forms SET enabled = false")
        clock.advance(0.9)
        site = await checks.for_page(db, key, "old.example")  # not heard of yet
        seen.append(sorted(site.forms))
        clock.advance(0.2)
        with pytest.raises(DomainDenied, match="not one of this site's domains"):
            await checks.for_page(db, key, "old.example")
        seen.append(sorted((await checks.for_page(db, key, "shop.example")).forms))
        return seen

    assert run_with(settings, scenario) == [["enquiry"], ["enquiry"], []]


def test_a_form_deleted_through_the_service_is_forgotten_at_once(
    settings: Settings, bus: ChangeBus
) -> None:
    key = make_site(settings, "acme", "shop.example")
    make_form(settings, key, FORM)

    async def scenario(db: Counting) -> list[Any]:
        from leadline.sites import forms

        checks = CaptureSites(bus, clock=Clock())
        site = await checks.for_page(db, key, "shop.example")
        before = sorted(site.forms)
        async with db.transaction() as session:
            (form,) = await forms.forms_of(session, site.workspace_id, site.site_id)
            await forms.delete_form(session, site.workspace_id, form.id, Actor.cli())
        after = sorted((await checks.for_page(db, key, "shop.example")).forms)
        return [before, after]

    assert run_with(settings, scenario) == [["enquiry"], []]


def test_an_address_rule_added_through_the_service_is_heard_at_once(
    settings: Settings, bus: ChangeBus
) -> None:
    key = make_site(settings, "acme", "shop.example")

    async def scenario(db: Counting) -> list[str | None]:
        checks = CaptureSites(bus, clock=Clock())
        site = await checks.for_page(db, key, "shop.example")
        before = (await checks.address_rules(db, site.workspace_id)).kind_for("198.51.100.7")
        async with db.transaction() as session:
            await _block(session, "acme", "198.51.100.0/24")
        after = (await checks.address_rules(db, site.workspace_id)).kind_for("198.51.100.7")
        return [before, after]

    assert run_with(settings, scenario) == [None, "block"]


def test_other_processes_changes_reach_both_caches_through_redis(
    settings: Settings, redis_url: str
) -> None:
    """Two processes, one Redis: what the other one commits, this one forgets as the message
    arrives, though its entries would live a minute."""
    key = make_site(settings, "acme", "shop.example", "old.example")
    make_form(settings, key, FORM)

    async def scenario(db: Counting) -> None:
        here = ChangeBus(redis_url)
        hearing = asyncio.create_task(here.run())
        checks = CaptureSites(here, clock=Clock())
        tracking = SiteCache(here, clock=Clock())
        try:
            await eventually(lambda: here.listening, "the subscription is up")
            assert checks.sites.lifetime == tracking.lifetime == 60.0
            assert sorted((await checks.for_page(db, key, "old.example")).forms) == ["enquiry"]
            assert await tracking.get(db, key) is not None
            await quietly(db, "DELETE FROM site_domains WHERE domain = 'old.example'")
            await quietly(db, "DELETE FROM site_forms")
            other = redis.Redis.from_url(redis_url)
            other.publish(changes.CHANNEL, json.dumps({"origin": "elsewhere", "topics": [SITES]}))

            await eventually(lambda: not len(checks.sites), "the change is heard")
            with pytest.raises(DomainDenied):
                await checks.for_page(db, key, "old.example")
            assert (await checks.for_page(db, key, "shop.example")).forms == {}
            found = await tracking.get(db, key)
            assert found is not None
            assert found.domains == ["shop.example"]
        finally:
            hearing.cancel()
            await asyncio.gather(hearing, return_exceptions=True)
        assert not here.listening
        assert checks.sites.lifetime == tracking.lifetime == 1.0

    run_with(settings, scenario)
