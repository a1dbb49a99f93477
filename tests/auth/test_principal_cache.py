"""API keys' principals in memory: a known key reads no database, and a revoked key stops
working at once in its own process, within the short expiry elsewhere, and at once everywhere
that hears Redis."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Iterator

import pytest
import redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.testclient import TestClient

from leadline.app import create_app
from leadline.auth import service as auth
from leadline.auth.cache import PrincipalCache
from leadline.config import Settings
from leadline.db import Database
from leadline.errors import Unauthorized
from leadline.kit import changes
from leadline.kit.changes import PRINCIPALS, ChangeBus
from tests.fixtures.factories import make_key, run_in_transaction
from tests.fixtures.waiting import eventually


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def revoke_quietly(session: AsyncSession, token: str) -> None:
    """What another process does that this one cannot hear: the row changes, nothing is
    announced."""
    await session.execute(
        text("UPDATE api_keys SET revoked_at = CURRENT_TIMESTAMP WHERE key_hash = :h"),
        {"h": hashlib.sha256(token.encode()).hexdigest()},
    )


def revoke_behind_its_back(settings: Settings, token: str) -> None:
    run_in_transaction(settings, lambda session: revoke_quietly(session, token))


class Counting(Database):
    """A database that counts the transactions opened through it."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.opened = 0

    def transaction(self):  # type: ignore[no-untyped-def]
        self.opened += 1
        return super().transaction()


@pytest.fixture
def database(settings: Settings) -> Iterator[Counting]:
    db = Counting(settings)
    yield db
    asyncio.run(db.dispose())


def test_a_known_key_is_read_once(settings: Settings, database: Counting) -> None:
    token = make_key(settings, "acme", "admin")
    cache = PrincipalCache(clock=Clock())

    async def calls() -> list[str]:
        found = [await cache.authenticate(database, token) for _ in range(20)]
        # Requests that miss together share one read.
        cache.forget()
        found += await asyncio.gather(*(cache.authenticate(database, token) for _ in range(10)))
        return [principal.workspace.slug for principal in found]

    assert asyncio.run(calls()) == ["acme"] * 30
    assert database.opened == 2


def test_an_unknown_key_is_refused_from_memory_too(settings: Settings, database: Counting) -> None:
    cache = PrincipalCache(clock=Clock())

    async def calls() -> None:
        for _ in range(5):
            with pytest.raises(Unauthorized, match="invalid or revoked"):
                await cache.authenticate(database, "ll_not-a-key-anyone-was-given")
        with pytest.raises(Unauthorized, match="missing API key"):
            await cache.authenticate(database, "  ")

    asyncio.run(calls())
    assert database.opened == 1


def test_a_change_elsewhere_is_seen_after_the_short_expiry(
    settings: Settings, database: Counting
) -> None:
    token = make_key(settings, "acme", "admin")
    clock = Clock()
    cache = PrincipalCache(clock=clock, short_ttl=1.0)
    asyncio.run(cache.authenticate(database, token))
    revoke_behind_its_back(settings, token)
    clock.now += 0.9
    asyncio.run(cache.authenticate(database, token))  # not heard of yet
    clock.now += 0.2
    with pytest.raises(Unauthorized):
        asyncio.run(cache.authenticate(database, token))


def test_revoking_through_the_service_is_heard_at_once(
    settings: Settings, database: Counting
) -> None:
    token = make_key(settings, "acme", "admin")
    bus = ChangeBus()
    cache = PrincipalCache(bus, clock=Clock())
    asyncio.run(cache.authenticate(database, token))
    prefix = token[:10]
    run_in_transaction(settings, lambda session: auth.revoke_key(session, prefix))
    with pytest.raises(Unauthorized):
        asyncio.run(cache.authenticate(database, token))


def test_a_change_rolled_back_is_not_announced(settings: Settings) -> None:
    heard: list[str] = []
    bus = ChangeBus()
    bus.listen(PRINCIPALS, heard.append)

    async def work() -> None:
        db = Database(settings)
        try:
            async with db.sessionmaker() as session:
                changes.announce(session, PRINCIPALS)
                await session.rollback()
            async with db.transaction() as session:
                changes.announce(session, PRINCIPALS)
        finally:
            await db.dispose()

    asyncio.run(work())
    assert heard == [PRINCIPALS]


def test_revoking_over_the_api_stops_the_key_on_the_next_request(
    settings: Settings, client: TestClient
) -> None:
    admin = make_key(settings, "acme", "admin")
    integration = make_key(settings, "acme", "integration")
    assert client.post("/api/check", headers={"X-API-KEY": integration}).status_code == 200
    by_admin = {"Authorization": f"Bearer {admin}"}
    listed = client.get("/analytics/integrations", headers=by_admin)
    assert listed.status_code == 200, listed.text
    key_id = next(
        key["id"]
        for key in listed.json()["integrations"]
        if integration.startswith(key["api_key"].rstrip("…"))
    )
    revoked = client.delete(f"/analytics/integrations/{key_id}", headers=by_admin)
    assert revoked.status_code == 200, revoked.text
    assert client.post("/api/check", headers={"X-API-KEY": integration}).status_code == 401


def test_other_processes_hear_a_change_through_redis(settings: Settings, redis_url: str) -> None:
    """Two processes' caches, one Redis: what one commits, the other forgets at once."""
    token = make_key(settings, "acme", "admin")

    async def scenario() -> None:
        here = ChangeBus(redis_url)
        hearing = asyncio.create_task(here.run())
        cache = PrincipalCache(here, clock=Clock())
        db = Database(settings)
        try:
            await eventually(lambda: here.listening, "the subscription is up")
            assert cache.lifetime == cache.ttl
            await cache.authenticate(db, token)
            async with db.transaction() as session:
                await revoke_quietly(session, token)
            # The other process: its own origin, publishing through Redis only.
            other = redis.Redis.from_url(redis_url)
            other.publish(
                changes.CHANNEL, json.dumps({"origin": "elsewhere", "topics": [PRINCIPALS]})
            )

            # The cache forgets when the message arrives; the next request reads again.
            await eventually(lambda: not cache._entries, "the change is heard")
            with pytest.raises(Unauthorized):
                await cache.authenticate(db, token)
        finally:
            hearing.cancel()
            await asyncio.gather(hearing, return_exceptions=True)
            await db.dispose()
        assert not here.listening
        assert cache.lifetime == cache.short_ttl

    asyncio.run(scenario())


def test_the_app_answers_a_known_key_without_a_transaction(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = make_key(settings, "acme", "admin")
    opened = 0
    original = Database.transaction

    def counting(self: Database):  # type: ignore[no-untyped-def]
        nonlocal opened
        opened += 1
        return original(self)

    monkeypatch.setattr(Database, "transaction", counting)
    with TestClient(create_app(settings)) as client:
        for _ in range(10):
            assert client.post("/api/check", headers={"X-API-KEY": token}).status_code == 200
    assert opened == 1
