"""The dashboard in Chromium against the real server: the first owner's setup, signing out and
in, and signing another browser out (htmx), all with the keyboard alone; axe-core finds no
serious or critical accessibility problem on any page, at desktop and phone widths, light and
dark; and the pages run under their Content-Security-Policy without a violation.

Screenshots of every page checked are written to a folder printed at the end of the test
(kept with pytest's temporary folders)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from leadline.config import Settings
from tests.fixtures.browser_pages import (
    accessible,
    focused,
    new_context,
    refused,
    tab_to,
)
from tests.fixtures.web import (
    cheap_hashing,  # noqa: F401  (a fixture)
    make_setup_token,
)

pytestmark = pytest.mark.usefixtures("cheap_hashing")

PASSWORD = "a long enough secret"


def test_setup_sign_out_and_in_by_keyboard_with_no_serious_accessibility_problem(
    browser: Browser, server: str, settings: Settings, shots: Path
) -> None:
    token = make_setup_token(settings)
    context = new_context(browser)
    page = context.new_page()
    try:
        page.goto(f"{server}/app/setup?token={token}")
        accessible(page, shots, "setup")

        # The first Tab reaches the skip link, which moves the focus to the content.
        page.keyboard.press("Tab")
        assert focused(page) == "Skip to content"
        page.keyboard.press("Enter")
        assert page.evaluate("document.activeElement.id") == "main"
        tab_to(page, "Your name")
        page.keyboard.type("Ada Lovelace")
        page.keyboard.press("Tab")
        assert focused(page) == "Email address"
        page.keyboard.type("ada@example.com")
        page.keyboard.press("Tab")
        page.keyboard.type(PASSWORD)
        page.keyboard.press("Tab")
        assert focused(page) == "Password, again"
        page.keyboard.type(PASSWORD)
        page.keyboard.press("Tab")
        assert focused(page) == "Create account and sign in"
        page.keyboard.press("Enter")
        page.wait_for_url(f"{server}/app/")
        assert page.url == f"{server}/app/"
        assert page.locator("h1").inner_text() == "Welcome, Ada Lovelace"
        accessible(page, shots, "home")

        # Sign out from the header, by keyboard.
        page.keyboard.press("Tab")  # the skip link
        tab_to(page, "Sign out")
        page.keyboard.press("Enter")
        page.wait_for_url(f"{server}/app/signin")
        assert page.url == f"{server}/app/signin"
        accessible(page, shots, "signin")

        # A wrong password says so, where a screen reader announces it.
        tab_to(page, "Email address")
        page.keyboard.type("ada@example.com")
        page.keyboard.press("Tab")
        page.keyboard.type("not the password")
        page.keyboard.press("Enter")
        page.get_by_role("alert").wait_for()
        assert "do not match" in page.get_by_role("alert").inner_text()
        accessible(page, shots, "signin-refused")

        # Signing in again lands on the home page.
        page.locator("#password").focus()
        page.keyboard.type(PASSWORD)
        page.keyboard.press("Enter")
        page.wait_for_url(f"{server}/app/")
        assert page.url == f"{server}/app/"
        assert refused(page) == []
    finally:
        context.close()


def test_another_browser_is_signed_out_with_htmx_and_dark_mode_is_readable(
    browser: Browser, server: str, settings: Settings, shots: Path
) -> None:
    token = make_setup_token(settings)
    first, second = new_context(browser, "dark"), new_context(browser)
    try:
        page = first.new_page()
        page.goto(f"{server}/app/setup?token={token}")
        page.fill("#name", "Ada Lovelace")
        page.fill("#email", "ada@example.com")
        page.fill("#password", PASSWORD)
        page.fill("#password_again", PASSWORD)
        page.press("#password_again", "Enter")
        page.wait_for_url(f"{server}/app/")
        other = second.new_page()
        other.goto(f"{server}/app/signin")
        other.fill("#email", "ada@example.com")
        other.fill("#password", PASSWORD)
        other.press("#password", "Enter")
        other.wait_for_url(f"{server}/app/")
        assert other.url == f"{server}/app/"

        page.reload()
        accessible(page, shots, "home-dark")
        # A mark on the window survives only if the page is not loaded again.
        page.evaluate("window.stillHere = true")
        button = page.get_by_role("button", name="Sign out this browser")
        button.focus()
        page.keyboard.press("Enter")
        page.locator("#signins-list li").nth(0).wait_for()
        # Not wait_for_function: the page's policy forbids the eval it runs its text with.
        expect(page.locator("#signins-list li")).to_have_count(1)
        assert page.evaluate("window.stillHere") is True
        assert page.locator("#signins-list").inner_text().count("This browser") == 1
        # The other browser is signed out.
        other.goto(f"{server}/app/")
        assert other.url.startswith(f"{server}/app/signin")
        assert refused(page) == []
    finally:
        first.close()
        second.close()
