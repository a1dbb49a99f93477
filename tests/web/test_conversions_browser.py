"""Settings → Conversions in Chromium against the real server: an owner adds a destination of
the test ad platform, tests its connection (the platform's answer shown), and opens a lead
whose conversions section lists why it is blocked. axe-core finds no serious or critical
problem on any page, at desktop and phone widths, and the pages run under their
Content-Security-Policy without a violation.

Screenshots of every page checked are written to a folder printed at the end of the test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from leadline.config import Settings
from tests.fixtures.browser_pages import (
    DESKTOP,
    PHONE,
    accessible,
    new_context,
    refused,
    sign_in_page,
)
from tests.fixtures.conversions import TOKEN, AdsServer, ads_server, local_ads
from tests.fixtures.factories import fetch_rows, make_key
from tests.fixtures.web import (
    PASSWORD,
    cheap_hashing,  # noqa: F401  (a fixture)
    make_member,
)

pytestmark = pytest.mark.usefixtures("cheap_hashing")

OWNER = "owner@example.com"


def checked(page: Page, shots: Path, name: str) -> None:
    """axe-core at desktop and phone widths, and nothing wider than a phone's screen."""
    accessible(page, shots, name)
    page.set_viewport_size(PHONE)
    try:
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], name
    finally:
        page.set_viewport_size(DESKTOP)


@pytest.fixture
def ads() -> Iterator[AdsServer]:
    with ads_server() as server, local_ads(server.url):
        yield server


def test_an_owner_adds_a_destination_tests_it_and_sees_a_leads_preflight(
    browser: Browser, server: str, settings: Settings, shots: Path, ads: AdsServer
) -> None:
    make_member(settings, "acme", OWNER, role="owner", name="Olive Owner")
    context = new_context(browser)
    page = context.new_page()
    try:
        sign_in_page(page, server, OWNER, PASSWORD, then="/app/settings")
        page.get_by_role("link", name="Conversions", exact=True).first.click()
        page.wait_for_url(f"{server}/app/settings/conversions")
        expect(page.locator("h1")).to_have_text("Conversions")
        expect(page.locator(".empty")).to_contain_text("No destination yet")
        checked(page, shots, "settings-conversions-empty")

        page.get_by_label("Ad platform").select_option("testads")
        page.get_by_role("button", name="Continue").click()
        expect(page.locator("h1")).to_have_text("New testads destination")
        checked(page, shots, "settings-conversions-new")
        page.get_by_label("Name", exact=True).fill("Test ads")
        page.get_by_label("account").fill("acc-1")
        page.get_by_label("token").fill(TOKEN)
        page.get_by_label("Qualified").fill("lead_ok")
        page.get_by_role("button", name="Add destination").click()
        page.wait_for_url(f"{server}/app/settings/conversions/cvd_*")
        expect(page.locator("h1")).to_have_text("Test ads")
        assert TOKEN not in page.content()
        expect(page.get_by_label("token")).to_have_value("")

        page.get_by_role("button", name="Test connection").click()
        answer = page.locator("#test-answer")
        expect(answer).to_contain_text("The connection works")
        expect(answer).to_contain_text("the token reads the account")
        checked(page, shots, "settings-conversion-tested")

        page.get_by_role("link", name="Conversions", exact=True).first.click()
        row = page.locator("tbody tr")
        expect(row).to_have_count(1)
        expect(row).to_contain_text("Test ads")
        expect(row).to_contain_text("lead_ok")
        checked(page, shots, "settings-conversions")

        # A lead without consent: its page says why it cannot be uploaded.
        made = httpx.post(
            f"{server}/api/leads",
            json={"name": "Ada", "email": "ada@example.com", "gclid": "G-1"},
            headers={"X-API-KEY": make_key(settings, "acme")},
        )
        assert made.status_code == 201, made.text
        page.goto(f"{server}/app/leads/{made.json()['data']['id']}")
        section = page.locator("section:has(#conversions-heading)")
        expect(section).to_contain_text("Blocked")
        expect(section).to_contain_text("The consent this platform needs was not granted")
        checked(page, shots, "lead-conversions")

        assert refused(page) == []
    finally:
        context.close()

    # The destination's page reads as well in dark mode.
    dark = new_context(browser, "dark")
    try:
        page = dark.new_page()
        sign_in_page(page, server, OWNER, PASSWORD, then="/app/settings/conversions")
        page.get_by_role("link", name="Test ads").click()
        expect(page.locator("h1")).to_have_text("Test ads")
        checked(page, shots, "settings-conversion-dark")
        assert refused(page) == []
    finally:
        dark.close()
    assert ads.uploads == []
    [row_at_rest] = fetch_rows(settings, "SELECT credentials FROM conversion_destinations")
    assert TOKEN not in row_at_rest["credentials"]
