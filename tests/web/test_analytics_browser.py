"""The Analytics page in Chromium against the real server: the page comes with a placeholder
per section and htmx fills each in from its fragment, the charts are drawn on their canvases
and fit a phone's width, the range and the site are changed through the form, the
realtime section refreshes itself, axe-core finds no serious or critical problem at desktop
and phone widths in light and dark, and nothing breaks the page's Content-Security-Policy.

Screenshots are written to the folder printed at the end of the test."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, Route, expect

from leadline.config import Settings
from tests.fixtures.browser_pages import (
    DESKTOP,
    PHONE,
    accessible,
    new_context,
    refused,
    tab_to,
)
from tests.fixtures.factories import make_site
from tests.fixtures.waiting import wait_until
from tests.fixtures.web import (
    PASSWORD,
    cheap_hashing,  # noqa: F401  (a fixture)
    make_member,
)
from tests.web.test_analytics import UA, site_id_of, track

pytestmark = pytest.mark.usefixtures("cheap_hashing")

# How many pixels of a canvas hold something: zero for a chart never drawn.
PAINTED = """(selector) => {
  const canvas = document.querySelector(selector);
  if (!canvas) return 0;
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let painted = 0;
  for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) painted++;
  return painted;
}"""


# How many pixels of a canvas are of one colour (red, green, blue).
COLOURED = """([selector, rgb]) => {
  const canvas = document.querySelector(selector);
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let found = 0;
  for (let i = 0; i < data.length; i += 4) {
    const same = data[i] === rgb[0] && data[i + 1] === rgb[1] && data[i + 2] === rgb[2];
    if (same && data[i + 3] === 255) found++;
  }
  return found;
}"""
# The first series' colour (--chart-1 in app.css), light and dark.
LIGHT_SERIES, DARK_SERIES = (0x1F, 0x5F, 0x8B), (0x8C, 0xC4, 0xEE)


def coloured(page: Page, chart: str, rgb: tuple[int, int, int]) -> int:
    count: int = page.evaluate(COLOURED, [f"#{chart} canvas", list(rgb)])
    return count


def painted(page: Page, chart: str) -> int:
    count: int = page.evaluate(PAINTED, f"#{chart} canvas")
    return count


def sign_in(page: Page, server: str, then: str) -> None:
    page.goto(f"{server}/app/signin")
    page.fill("#email", "owner@example.com")
    page.fill("#password", PASSWORD)
    page.press("#password", "Enter")
    page.wait_for_url(f"{server}/app/")
    page.goto(f"{server}{then}")


def sections_filled(page: Page, count: int = 8) -> None:
    """Wait until htmx has swapped every placeholder for its section: none busy, ``count``
    sections each with its heading."""
    expect(page.locator("section[data-section]")).to_have_count(count)
    expect(page.locator("section[aria-busy]")).to_have_count(0)
    expect(page.locator("[data-loading]")).to_have_count(0)
    for section in page.locator("section[data-section]").all():
        expect(section.locator("h2")).to_have_count(1)


def chart_width(page: Page, chart: str) -> float:
    box = page.locator(f"#{chart} canvas").bounding_box()
    assert box is not None
    return float(box["width"])


def test_the_charts_are_drawn_and_the_page_follows_the_form_and_the_minute(
    browser: Browser, server: str, settings: Settings, shots: Path
) -> None:
    make_member(settings, "acme", role="owner")
    shop = make_site(settings, "acme", "shop.example")
    blog = make_site(settings, "acme", "blog.example")
    with httpx.Client(base_url=server) as tracker:
        track(tracker, shop)
        track(tracker, blog, "blog.example")
    context = new_context(browser)
    page = context.new_page()
    try:
        # The page as served holds no figure: a placeholder per section, busy, with its
        # heading. (Its fragments are held back here, then refused.)
        held: list[Route] = []

        def hold(route: Route) -> None:
            held.append(route)

        page.route("**/app/analytics/sections/**", hold)
        sign_in(page, server, "/app/analytics")
        busy = page.locator("section[data-section][aria-busy='true'][hx-trigger='load']")
        expect(busy).to_have_count(8)
        wait_until(lambda: len(held) == 8, "the eight sections asked for")
        assert page.locator('[data-metric="visits"]').count() == 0
        expect(page.get_by_role("heading", name="Top pages")).to_be_visible()
        accessible(page, shots, "analytics-loading")
        for route in held:
            route.abort()
        # A section that cannot be loaded says so, and is busy no more.
        expect(page.locator("section[aria-busy='true']")).to_have_count(0)
        expect(page.locator("section[data-section] [role=alert]")).to_have_count(8)
        expect(page.locator("#section-overview [role=alert]")).to_contain_text(
            "could not be loaded"
        )
        page.unroute("**/app/analytics/sections/**")
        page.reload()
        sections_filled(page)
        expect(page.locator("#daily-chart")).to_have_attribute("data-drawn", "true")
        expect(page.locator("#engagement-chart")).to_have_attribute("data-drawn", "true")
        expect(page.locator("#realtime-chart")).to_have_attribute("data-drawn", "true")
        for chart in ("daily-chart", "engagement-chart", "realtime-chart"):
            assert painted(page, chart) > 0, chart
        expect(page.locator('[data-metric="visits"] .metric-value')).to_have_text("6")
        accessible(page, shots, "analytics")

        # The chart fits a phone's width, and the desktop's again.
        page.set_viewport_size(PHONE)
        wait_until(lambda: chart_width(page, "daily-chart") < PHONE["width"], "a narrow chart")
        page.set_viewport_size(DESKTOP)
        wait_until(lambda: chart_width(page, "daily-chart") > PHONE["width"], "a wide chart")

        # The last 7 days: seven rows in the chart's table.
        page.select_option("#range", "7")
        page.get_by_role("button", name="Show").click()
        page.wait_for_url(re.compile(r".*range=7.*"))
        expect(page.locator("#daily-chart")).to_have_attribute("data-drawn", "true")
        expect(page.locator("details table tbody tr")).to_have_count(7)
        assert painted(page, "daily-chart") > 0

        # One site: its three visits.
        blog_id = site_id_of(settings, blog)
        page.select_option("#site", blog_id)
        page.get_by_role("button", name="Show").click()
        page.wait_for_url(re.compile(rf".*site={blog_id}.*"))
        expect(page.locator('[data-metric="visits"] .metric-value')).to_have_text("3")
        expect(page.locator("#site")).to_have_value(blog_id)
        expect(page.locator("#range")).to_have_value("7")
        active = page.locator('#realtime-figures [data-realtime="active"]')
        expect(active).to_have_text("3")

        # A visit arrives: the next poll shows it, in the live region, with a fresh chart.
        page.evaluate("window.stillHere = true")
        with httpx.Client(base_url=server) as tracker:
            answer = tracker.post(
                "/track/session/start",
                json={"siteKey": blog, "url": "https://blog.example/new", "referrer": ""},
                headers={
                    "Origin": "https://blog.example",
                    "X-Visitor-ID": "late",
                    "User-Agent": UA,
                },
            )
            assert answer.status_code == 200, answer.text
        expect(active).to_have_text("4", timeout=40_000)
        expect(page.locator("#realtime-figures")).to_have_attribute("aria-live", "polite")
        expect(page.locator("#realtime-chart")).to_have_attribute("data-drawn", "true")
        assert painted(page, "realtime-chart") > 0
        assert page.evaluate("window.stillHere") is True

        # Editing a date chooses the dates over the preset.
        page.fill("#from", "2026-01-01")
        page.locator("#from").dispatch_event("change")
        expect(page.locator("#range")).to_have_value("custom")
        assert refused(page) == []
    finally:
        context.close()


def test_dark_mode_an_empty_range_and_a_refused_question_are_readable(
    browser: Browser, server: str, settings: Settings, shots: Path
) -> None:
    make_member(settings, "acme", role="owner")
    shop = make_site(settings, "acme", "shop.example")
    with httpx.Client(base_url=server) as tracker:
        track(tracker, shop)
    context = new_context(browser, "dark")
    page = context.new_page()
    try:
        sign_in(page, server, "/app/analytics?range=30")
        sections_filled(page)
        expect(page.locator("#engagement-chart")).to_have_attribute("data-drawn", "true")
        assert painted(page, "daily-chart") > 0
        # The bars take the dark palette's colour, and the light one's when the system
        # changes to light, without a reload.
        assert coloured(page, "engagement-chart", DARK_SERIES) > 0
        assert coloured(page, "engagement-chart", LIGHT_SERIES) == 0
        page.emulate_media(color_scheme="light")
        wait_until(
            lambda: coloured(page, "engagement-chart", LIGHT_SERIES) > 0, "the light palette"
        )
        assert coloured(page, "engagement-chart", DARK_SERIES) == 0
        page.emulate_media(color_scheme="dark")
        wait_until(lambda: coloured(page, "engagement-chart", DARK_SERIES) > 0, "the dark one")
        accessible(page, shots, "analytics-dark")

        # The form by keyboard alone: the next range, then Show.
        tab_to(page, "Days")
        page.keyboard.press("ArrowDown")
        expect(page.locator("#range")).to_have_value("90")
        tab_to(page, "Show")
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile(r".*range=90.*"))
        first = (datetime.now(UTC).date() - timedelta(days=89)).isoformat()
        expect(page.locator("#period")).to_contain_text(f"{first} to ")

        page.goto(f"{server}/app/analytics?from=2025-01-01&to=2025-01-31")
        expect(page.locator("#no-data")).to_be_visible()
        sections_filled(page)
        accessible(page, shots, "analytics-no-data-dark")

        page.goto(f"{server}/app/analytics?range=custom&from=2026-03-10&to=2026-03-01")
        expect(page.get_by_role("alert")).to_contain_text("is after to")
        expect(page.locator("#from")).to_have_attribute("aria-invalid", "true")
        accessible(page, shots, "analytics-refused-dark")
        assert refused(page) == []
    finally:
        context.close()


def test_without_javascript_a_link_shows_every_section_in_the_page(
    browser: Browser, server: str, settings: Settings
) -> None:
    make_member(settings, "acme", role="owner")
    shop = make_site(settings, "acme", "shop.example")
    with httpx.Client(base_url=server) as tracker:
        track(tracker, shop)
    context = browser.new_context(viewport=DESKTOP, java_script_enabled=False)  # type: ignore[arg-type]
    page = context.new_page()
    try:
        sign_in(page, server, "/app/analytics?range=7")
        link = page.get_by_role("link", name="Show every section in one page")
        expect(link).to_be_visible()
        link.click()
        page.wait_for_url(re.compile(r".*range=7.*full=1"))
        expect(page.locator("section[data-section]")).to_have_count(8)
        expect(page.locator("section[aria-busy]")).to_have_count(0)
        expect(page.locator('[data-metric="visits"] .metric-value')).to_have_text("3")
        expect(page.get_by_role("rowheader", name="/offer")).to_be_visible()
        expect(page.locator("#range")).to_have_value("7")
    finally:
        context.close()


def test_a_workspace_without_a_site_is_told_how_to_add_one(
    browser: Browser, server: str, settings: Settings, shots: Path
) -> None:
    make_member(settings, "acme", role="owner")
    context = new_context(browser)
    page = context.new_page()
    try:
        sign_in(page, server, "/app/analytics")
        expect(page.get_by_role("heading", name="No site yet")).to_be_visible()
        accessible(page, shots, "analytics-no-site")
        assert refused(page) == []
    finally:
        context.close()
