"""The Leads pages in Chromium against the real server: sign in, filter the leads, qualify one
in its row (htmx) and open it, with the mouse and with the keyboard alone; axe-core finds no
serious or critical problem on the list, the empty list and a lead's page at desktop and phone
widths; nothing breaks the pages' Content-Security-Policy. Screenshots go to the folder the
test prints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from leadline.config import Settings
from tests.fixtures.browser_pages import (
    accessible,
    focused,
    new_context,
    refused,
    sign_in_page,
    tab_to,
)
from tests.fixtures.factories import make_key
from tests.fixtures.web import (
    PASSWORD,
    cheap_hashing,  # noqa: F401  (a fixture)
    make_member,
)

pytestmark = pytest.mark.usefixtures("cheap_hashing")

OWNER = "owner@example.com"


def _seed(server: str, settings: Settings) -> dict[str, str]:
    key = make_key(settings, "acme")
    leads: list[dict[str, Any]] = [
        {
            "name": "Ada Lovelace",
            "email": "ada@example.com",
            "utm_source": "google",
            "utm_campaign": "spring",
            "gclid": "gclid-ada",
            "website": "https://shop.example",
            "path": "/pricing",
        },
        {"name": "Grace Hopper", "email": "grace@example.com", "utm_source": "bing"},
        {"name": "Linus Torvalds", "phone": "+31 20 123 4567", "value": 250},
    ]
    made = {}
    for lead in leads:
        answer = httpx.post(f"{server}/api/leads", json=lead, headers={"X-API-KEY": key})
        assert answer.status_code == 201, answer.text
        made[lead["name"]] = answer.json()["data"]["id"]
    return made


def _rows(page: Page) -> Any:
    return page.locator("#leads-results tbody tr")


def checked(page: Page, shots: Path, name: str) -> None:
    """axe-core on the page, then the page loaded again: axe leaves an empty ``style``
    attribute on the fields it looked at, which htmx would copy onto the fields of a swapped
    row (it settles ``style`` of elements whose id stays), something the page never does."""
    accessible(page, shots, name)
    page.reload()


def test_filter_qualify_and_open_a_lead_with_no_serious_accessibility_problem(
    browser: Browser, server: str, settings: Settings, shots: Path
) -> None:
    make_member(settings, "acme", OWNER, role="owner")
    made = _seed(server, settings)
    context = new_context(browser)
    page = context.new_page()
    try:
        sign_in_page(page, server, OWNER, PASSWORD, then="/app/leads")
        expect(_rows(page)).to_have_count(3)
        checked(page, shots, "leads")

        # A filter swaps the table alone, and the address follows it.
        page.evaluate("window.stillHere = true")
        page.get_by_label("Source", exact=True).select_option("api")
        page.locator("summary", has_text="More filters").click()
        page.get_by_label("utm_source").fill("google")
        page.get_by_role("button", name="Apply filters").click()
        expect(_rows(page)).to_have_count(1)
        expect(page.locator("#leads-announce")).to_have_text("Leads 1\N{EN DASH}1 of 1")
        assert "utm_source=google" in page.url
        assert page.evaluate("window.stillHere") is True
        checked(page, shots, "leads-filtered")
        expect(_rows(page)).to_have_count(1)
        page.evaluate("window.stillHere = true")

        # Qualify it in its row: the row changes, the change is announced.
        page.get_by_role("button", name="Qualify Ada Lovelace").click()
        row = page.locator(f"#lead-{made['Ada Lovelace']}")
        expect(row.locator(".status")).to_have_text("qualified")
        expect(page.locator("#leads-announce")).to_have_text("Ada Lovelace is now qualified.")
        assert page.evaluate("window.stillHere") is True

        # Open it: what brought it and its history.
        row.get_by_role("link", name="Ada Lovelace").click()
        page.wait_for_url(f"{server}/app/leads/{made['Ada Lovelace']}")
        expect(page.locator("h1")).to_have_text("Ada Lovelace")
        expect(page.locator(".timeline")).to_contain_text("changed from open to qualified")
        expect(page.locator("#attribution-heading + dl")).to_contain_text("gclid-ada")
        accessible(page, shots, "lead")

        # Won, with its value, from the lead's page (a plain form).
        page.locator("summary", has_text="Won").click()
        page.get_by_label("Value", exact=True).fill("1200")
        page.get_by_role("button", name="Mark won").click()
        expect(page.locator(".notice.done")).to_contain_text("now won")
        expect(page.locator(".facts")).to_contain_text("1,200 EUR")
        accessible(page, shots, "lead-won")

        # A bad filter explains itself in the table's place.
        page.goto(f"{server}/app/leads")
        page.locator("summary", has_text="More filters").click()
        page.get_by_label("Value at least").fill("lots")
        page.get_by_role("button", name="Apply filters").click()
        expect(page.get_by_role("alert")).to_contain_text("value[gte] must be a number")
        assert refused(page) == []
    finally:
        context.close()


def test_the_lead_flow_by_keyboard_alone(
    browser: Browser, server: str, settings: Settings, shots: Path
) -> None:
    make_member(settings, "acme", OWNER, role="owner")
    made = _seed(server, settings)
    context = new_context(browser, "dark")
    page = context.new_page()
    try:
        page.goto(f"{server}/app/signin?next=/app/leads")
        tab_to(page, "Email address")
        page.keyboard.type(OWNER)
        page.keyboard.press("Tab")
        page.keyboard.type(PASSWORD)
        page.keyboard.press("Enter")
        page.wait_for_url(f"{server}/app/leads")
        expect(_rows(page)).to_have_count(3)
        checked(page, shots, "leads-dark")

        # Search by typing: the table follows without a button.
        tab_to(page, "Search", most=30)
        page.keyboard.type("grace")
        expect(_rows(page)).to_have_count(1)

        tab_to(page, "Qualify Grace Hopper", most=60)
        page.keyboard.press("Enter")
        row = page.locator(f"#lead-{made['Grace Hopper']}")
        expect(row.locator(".status")).to_have_text("qualified")
        expect(page.locator("#leads-announce")).to_have_text("Grace Hopper is now qualified.")
        # The focus stays in the row, on its next action.
        assert focused(page) == "Won (Grace Hopper)…"

        # Lost with a reason: open the details with Enter, type, submit.
        page.keyboard.press("Tab")
        assert focused(page) == "Lost (Grace Hopper)…"
        page.keyboard.press("Enter")
        page.keyboard.press("Tab")
        assert focused(page) == "Reason"
        page.keyboard.type("no budget")
        page.keyboard.press("Enter")
        expect(row.locator(".status")).to_have_text("lost")
        expect(page.locator("#leads-announce")).to_have_text("Grace Hopper is now lost.")

        # Back to the lead's link, and open it.
        for _ in range(10):
            if focused(page) == "Grace Hopper":
                break
            page.keyboard.press("Shift+Tab")
        assert focused(page) == "Grace Hopper"
        page.keyboard.press("Enter")
        page.wait_for_url(f"{server}/app/leads/{made['Grace Hopper']}")
        expect(page.locator(".timeline")).to_contain_text("changed from qualified to lost")
        accessible(page, shots, "lead-dark")
        assert refused(page) == []
    finally:
        context.close()


def test_the_empty_list_is_accessible_and_says_what_to_do(
    browser: Browser, server: str, settings: Settings, shots: Path
) -> None:
    make_member(settings, "acme", OWNER, role="owner")
    context = new_context(browser)
    page = context.new_page()
    try:
        sign_in_page(page, server, OWNER, PASSWORD, then="/app/leads")
        expect(page.get_by_role("heading", name="No leads yet")).to_be_visible()
        accessible(page, shots, "leads-empty")
        assert refused(page) == []
    finally:
        context.close()
