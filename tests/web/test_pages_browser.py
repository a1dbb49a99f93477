"""The dashboard in Chromium against the real server: the first owner's setup, signing out and
in, and signing another browser out (htmx), all with the keyboard alone; axe-core finds no
serious or critical accessibility problem on any page, at desktop and phone widths, light and
dark; and the pages run under their Content-Security-Policy without a violation.

Screenshots of every page checked are written to a folder printed at the end of the test
(kept with pytest's temporary folders)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from leadline.config import Settings
from leadline.web import assets
from tests.fixtures.server import live_server
from tests.fixtures.web import (
    cheap_hashing,  # noqa: F401  (a fixture)
    make_setup_token,
)

pytestmark = pytest.mark.usefixtures("cheap_hashing")

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
AXE = (assets.VENDOR / "axe.min.js").read_text()
PASSWORD = "a long enough secret"


@pytest.fixture
def server(settings: Settings) -> Iterator[str]:
    with live_server(settings) as base:
        yield base


@pytest.fixture
def shots(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("dashboard-screenshots")
    yield folder
    print(f"\nscreenshots of the dashboard's pages: {folder}")


# What the pages' Content-Security-Policy refused, kept in the tab's storage across pages
# (Playwright's page.on() does not work under the browser fixture's event loop handling).
WATCH_CSP = """
addEventListener('securitypolicyviolation', (e) => {
  const seen = JSON.parse(sessionStorage.getItem('csp') || '[]');
  seen.push(e.violatedDirective + ' ' + e.blockedURI);
  sessionStorage.setItem('csp', JSON.stringify(seen));
});
"""


def _context(browser: Browser, scheme: str = "light") -> BrowserContext:
    context = browser.new_context(viewport=DESKTOP, color_scheme=scheme)  # type: ignore[arg-type]
    context.add_init_script(WATCH_CSP)
    return context


def _refused(page: Page) -> list[str]:
    seen: list[str] = page.evaluate("JSON.parse(sessionStorage.getItem('csp') || '[]')")
    return seen


def _accessible(page: Page, shots: Path, name: str) -> None:
    """axe-core on the page as it is, at desktop and phone widths; a screenshot of each."""
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(size)
        # Evaluated through the DevTools protocol, which the page's CSP does not govern.
        page.evaluate(AXE)
        result: dict[str, Any] = page.evaluate(
            "() => axe.run(document, {resultTypes: ['violations']})"
        )
        serious = [
            f"{v['id']} ({v['impact']}): {v['help']} at "
            + ", ".join(str(node["target"]) for node in v["nodes"])
            for v in result["violations"]
            if v["impact"] in ("serious", "critical")
        ]
        assert serious == [], f"{name} at {label} width"
        page.screenshot(path=str(shots / f"{name}-{label}.png"), full_page=True)
    page.set_viewport_size(DESKTOP)


def _focused(page: Page) -> str:
    text: str = page.evaluate(
        "() => (document.activeElement.labels?.[0]?.textContent"
        " || document.activeElement.textContent || document.activeElement.id || '').trim()"
    )
    return text


def _tab_to(page: Page, wanted: str, most: int = 20) -> None:
    """Press Tab until the element named ``wanted`` has the focus."""
    for _ in range(most):
        page.keyboard.press("Tab")
        if _focused(page) == wanted:
            return
    raise AssertionError(f"Tab never reached {wanted!r}")


def test_setup_sign_out_and_in_by_keyboard_with_no_serious_accessibility_problem(
    browser: Browser, server: str, settings: Settings, shots: Path
) -> None:
    token = make_setup_token(settings)
    context = _context(browser)
    page = context.new_page()
    try:
        page.goto(f"{server}/app/setup?token={token}")
        _accessible(page, shots, "setup")

        # The first Tab reaches the skip link, which moves the focus to the content.
        page.keyboard.press("Tab")
        assert _focused(page) == "Skip to content"
        page.keyboard.press("Enter")
        assert page.evaluate("document.activeElement.id") == "main"
        _tab_to(page, "Your name")
        page.keyboard.type("Ada Lovelace")
        page.keyboard.press("Tab")
        assert _focused(page) == "Email address"
        page.keyboard.type("ada@example.com")
        page.keyboard.press("Tab")
        page.keyboard.type(PASSWORD)
        page.keyboard.press("Tab")
        assert _focused(page) == "Password, again"
        page.keyboard.type(PASSWORD)
        page.keyboard.press("Tab")
        assert _focused(page) == "Create account and sign in"
        page.keyboard.press("Enter")
        page.wait_for_url(f"{server}/app/")
        assert page.url == f"{server}/app/"
        assert page.locator("h1").inner_text() == "Welcome, Ada Lovelace"
        _accessible(page, shots, "home")

        # Sign out from the header, by keyboard.
        page.keyboard.press("Tab")  # the skip link
        _tab_to(page, "Sign out")
        page.keyboard.press("Enter")
        page.wait_for_url(f"{server}/app/signin")
        assert page.url == f"{server}/app/signin"
        _accessible(page, shots, "signin")

        # A wrong password says so, where a screen reader announces it.
        _tab_to(page, "Email address")
        page.keyboard.type("ada@example.com")
        page.keyboard.press("Tab")
        page.keyboard.type("not the password")
        page.keyboard.press("Enter")
        page.get_by_role("alert").wait_for()
        assert "do not match" in page.get_by_role("alert").inner_text()
        _accessible(page, shots, "signin-refused")

        # Signing in again lands on the home page.
        page.locator("#password").focus()
        page.keyboard.type(PASSWORD)
        page.keyboard.press("Enter")
        page.wait_for_url(f"{server}/app/")
        assert page.url == f"{server}/app/"
        assert _refused(page) == []
    finally:
        context.close()


def test_another_browser_is_signed_out_with_htmx_and_dark_mode_is_readable(
    browser: Browser, server: str, settings: Settings, shots: Path
) -> None:
    token = make_setup_token(settings)
    first, second = _context(browser, "dark"), _context(browser)
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
        _accessible(page, shots, "home-dark")
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
        assert _refused(page) == []
    finally:
        first.close()
        second.close()
