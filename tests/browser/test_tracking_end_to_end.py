"""The tracker in Chromium against the real server: what a visit stores, with and without
consent."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page

from leadline.config import Settings
from tests.fixtures.browser import PageServer, eventually, navigate, scroll
from tests.fixtures.factories import fetch_rows, make_site
from tests.fixtures.server import live_server

BODY = """
<button id="cta">Get a quote</button>
<div style="height: 6000px"></div>
"""


@pytest.fixture
def server(settings: Settings) -> Iterator[str]:
    with live_server(settings) as base:
        yield base


def visits(settings: Settings) -> list[dict[str, Any]]:
    return fetch_rows(settings, "SELECT * FROM visits ORDER BY started_at")


def events(settings: Settings) -> list[dict[str, Any]]:
    return fetch_rows(settings, "SELECT type, url, data FROM events ORDER BY id")


def visit(page: Page, page_server: PageServer, server: str, site: str, mode: str) -> str:
    """Go through a page of the site as a visitor would; return the landing page's path."""
    url = page_server.with_script(
        f"{server}/tracker.js",
        {"data-site-key": site, "data-consent-mode": mode},
        body=BODY,
    )
    page.goto(f"{url}?gclid=TeSt-gclid_1&utm_source=google&utm_medium=cpc&utm_campaign=spring")
    for y in (1500, 99999):
        scroll(page, y)
    page.click("#cta")
    navigate(page, "history.pushState({}, '', '/pricing')")
    page.goto("about:blank")  # hidden, then pagehide: the queue is flushed and the visit ends
    return urlsplit(url).path


def test_a_visit_with_consent_is_stored_with_its_attribution(
    page: Page, page_server: PageServer, server: str, settings: Settings
) -> None:
    site = make_site(settings, "acme", "127.0.0.1")
    landing = visit(page, page_server, server, site, "granted")

    ended = eventually(
        lambda: [row for row in visits(settings) if row["ended_at"] is not None] or None
    )
    (row,) = ended
    assert (row["gclid"], row["utm_source"], row["utm_campaign"]) == (
        "TeSt-gclid_1",
        "google",
        "spring",
    )
    assert row["channel"] == "paid"
    assert row["path"] == landing  # where the visit began, not where it went (/pricing)
    assert (bool(row["ad_storage"]), bool(row["analytics_storage"])) == (True, True)
    assert row["identified"]
    assert row["clicks"] == 1
    assert row["max_scroll"] == 100
    assert row["engagement_score"] >= 30 + 1  # full scroll and one click
    kinds = [event["type"] for event in events(settings)]
    assert {"page_view", "click", "scroll", "navigation"} <= set(kinds)


def test_a_visit_without_consent_leaves_nothing_in_the_browser(
    page: Page, page_server: PageServer, server: str, settings: Settings
) -> None:
    site = make_site(settings, "acme", "127.0.0.1")
    url = page_server.with_script(
        f"{server}/tracker.js", {"data-site-key": site, "data-consent-mode": "denied"}, body=BODY
    )
    page.goto(f"{url}?gclid=abc")
    eventually(lambda: visits(settings) or None)
    page.wait_for_function("window.PulseGateSession.getSessionId() !== null")
    page.click("#cta")
    # A flush sends the click and then saves what consent allows to the browser's storage: once
    # the click is in the database the tracker has done all it would do for it.
    page.evaluate("window.PulseGateSession.flush()")
    eventually(lambda: [e for e in events(settings) if e["type"] == "click"] or None)
    stored = page.evaluate(
        "() => ({cookie: document.cookie, local: localStorage.length,"
        " session: sessionStorage.length})"
    )
    assert stored == {"cookie": "", "local": 0, "session": 0}
    assert page.context.cookies() == []
    page.goto("about:blank")
    (row,) = eventually(lambda: [r for r in visits(settings) if r["ended_at"] is not None] or None)
    assert row["visitor_id"].startswith("anon_")  # still counted, cookieless
    assert not row["identified"]
    assert (bool(row["ad_storage"]), bool(row["analytics_storage"])) == (False, False)
    assert row["gclid"] == "abc"
