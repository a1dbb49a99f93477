"""What the widget's routes check on every request (the workspace and its sites' domains),
kept in memory: read once for many requests, unknown workspaces too; forgotten at once when a
domain or the workspace changes in this process, after the short expiry when changed where no
one hears it; and through the routes, a domain added is usable at once."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.testclient import TestClient

from leadline.audit.service import Actor
from leadline.config import Settings
from leadline.db import Database
from leadline.errors import NotFound, WorkspaceClosed
from leadline.inbox import widget
from leadline.inbox.widget import OriginRefused, WidgetPagesCache
from leadline.kit import changes
from leadline.kit.changes import ChangeBus
from leadline.sites import service as sites
from leadline.workspaces import service as workspaces
from tests.fixtures.factories import make_key, make_site
from tests.fixtures.leadiosa import bearer


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


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


@pytest.fixture
def bus() -> ChangeBus:
    changes.configure(None)
    return ChangeBus()


def test_many_requests_read_the_workspace_and_its_domains_once(settings: Settings) -> None:
    make_site(settings, "acme", "shop.example", "*.shop.example")

    async def scenario(db: Counting) -> int:
        pages = WidgetPagesCache(clock=Clock())
        for host in ["shop.example", "blog.shop.example"] * 5:
            found = await pages.get(db, "acme")
            assert found.check("acme", host).slug == "acme"
        with pytest.raises(OriginRefused):
            (await pages.get(db, "acme")).check("acme", "elsewhere.example")
        for _ in range(3):
            with pytest.raises(NotFound):
                (await pages.get(db, "nobody")).check("nobody", "shop.example")
        return db.opened

    assert run_with(settings, scenario) == 2  # acme once, the unknown workspace once


def test_a_domain_or_workspace_changed_here_is_forgotten_at_once(
    settings: Settings, bus: ChangeBus
) -> None:
    make_site(settings, "acme", "shop.example")

    async def scenario(db: Counting) -> list[str]:
        pages = WidgetPagesCache(bus, clock=Clock())  # nothing expires: only changes count
        seen: list[str] = []
        workspace = (await pages.get(db, "acme")).check("acme", "shop.example")
        async with db.transaction() as session:
            (site,) = await sites.sites_of(session, workspace.id)
            await sites.add_domain(session, workspace.id, site.site.id, "new.example", Actor.cli())
        seen.append((await pages.get(db, "acme")).check("acme", "new.example").slug)
        async with db.transaction() as session:
            (site,) = await sites.sites_of(session, workspace.id)
            (row,) = [d for d in site.domains if d.domain == "shop.example"]
            await sites.remove_domain(session, workspace.id, site.site.id, row.id, Actor.cli())
        with pytest.raises(OriginRefused):
            (await pages.get(db, "acme")).check("acme", "shop.example")
        seen.append("shop.example refused")
        async with db.transaction() as session:
            await workspaces.close(session, workspace.id, retention_days=30, actor=Actor.cli())
        with pytest.raises(WorkspaceClosed):
            (await pages.get(db, "acme")).check("acme", "new.example")
        seen.append("closed")
        return seen

    assert run_with(settings, scenario) == ["acme", "shop.example refused", "closed"]


def test_a_change_no_one_hears_reaches_the_cache_after_the_short_expiry(
    settings: Settings,
) -> None:
    make_site(settings, "acme", "shop.example", "old.example")

    async def scenario(db: Counting) -> list[bool]:
        clock = Clock()
        pages = WidgetPagesCache(clock=clock, short_ttl=1.0)
        allowed = []
        (await pages.get(db, "acme")).check("acme", "old.example")
        async with db.transaction() as session:
            await session.execute(text("DELETE FROM site_domains WHERE domain = 'old.example'"))
        clock.now = 0.9
        allowed.append("old.example" in (await pages.get(db, "acme")).domains)
        clock.now = 1.1
        allowed.append("old.example" in (await pages.get(db, "acme")).domains)
        return allowed

    assert run_with(settings, scenario) == [True, False]


def test_through_the_routes_a_new_domain_chats_at_once(
    client: TestClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_site(settings, "acme", "shop.example")
    admin = bearer(make_key(settings, "acme", "admin"))
    reads: list[str] = []
    real = widget._find_workspace

    async def counted(session: AsyncSession, ref: str) -> Any:
        reads.append(ref)
        return await real(session, ref)

    monkeypatch.setattr(widget, "_find_workspace", counted)
    client.app.widget_pages.clock = Clock()  # type: ignore[attr-defined]  # nothing expires
    shop = {"Origin": "https://shop.example"}
    for _ in range(5):
        assert client.get("/widget/v1/acme/config", headers=shop).status_code == 200
    assert reads == ["acme"]
    blog = {"Origin": "https://blog.example"}
    refused = client.get("/widget/v1/acme/config", headers=blog)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "origin_not_allowed"
    (site,) = client.get("/analytics/sites", headers=admin).json()["sites"]
    added = client.post(
        f"/analytics/sites/{site['id']}/domains", json={"domain": "blog.example"}, headers=admin
    )
    assert added.status_code == 201, added.text
    assert client.get("/widget/v1/acme/config", headers=blog).status_code == 200
    assert reads == ["acme", "acme"]  # read again once the domain was added, not before
