"""The browser fixtures themselves."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from tests.fixtures.browser import PageServer

if TYPE_CHECKING:
    from playwright.sync_api import Page


async def answer() -> int:
    await asyncio.sleep(0)
    return 42


def test_asyncio_run_works_beside_the_browser(page: Page, page_server: PageServer) -> None:
    # Factories and the CLI call asyncio.run(); a live browser must not get in their way.
    assert asyncio.run(answer()) == 42
    page.goto(page_server.add("<title>one</title><p>hello</p>"))
    assert asyncio.run(answer()) == 42
    assert page.title() == "one"
    page.expose_function("twice", lambda n: n * 2)  # called back from inside the loop
    assert page.evaluate("twice(21)") == 42
    assert asyncio.run(answer()) == 42


def test_asyncio_run_after_browser_tests() -> None:
    assert asyncio.run(answer()) == 42


def test_pages_are_served_by_path(page: Page, page_server: PageServer) -> None:
    url = page_server.add("<title>mine</title>", path="/a/b")
    assert url == page_server.base_url + "/a/b"
    page.goto(url + "?x=1")
    assert page.title() == "mine"
    assert page.goto(page_server.base_url + "/missing").status == 404
