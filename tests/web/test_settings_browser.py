"""The access settings in Chromium against the real server: an owner creates a key (its secret
shown once, with a copy button), a marketing key, invites a person who accepts in another
browser, and changes their role; axe-core finds no serious or critical problem on any page at
desktop and phone widths, and the pages run under their Content-Security-Policy without a
violation. Screenshots go to the folder printed at the end."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from leadline.config import Settings
from tests.fixtures.browser_pages import accessible, new_context, refused, sign_in_page
from tests.fixtures.web import (
    PASSWORD,
    cheap_hashing,  # noqa: F401  (a fixture)
    make_member,
)

pytestmark = pytest.mark.usefixtures("cheap_hashing")

OWNER = "owner@example.com"
# The pages ask before a form that cannot be undone; here the question is noted, and answered
# as the tab's storage says.
ANSWER_CONFIRM = """
window.confirm = (question) => {
  sessionStorage.setItem('asked', question);
  return sessionStorage.getItem('answer') === 'yes';
};
"""


def test_an_owner_makes_a_key_and_invites_someone_who_joins(
    browser: Browser, server: str, settings: Settings, shots: Path
) -> None:
    make_member(settings, "acme", OWNER, role="owner", name="Olga")
    owner, invitee = new_context(browser), new_context(browser, "dark")
    owner.add_init_script(ANSWER_CONFIRM)
    try:
        page = owner.new_page()
        sign_in_page(page, server, OWNER, PASSWORD, "/app/settings")
        assert page.locator("h1").inner_text() == "Settings"
        accessible(page, shots, "settings")

        # A key: its secret shown once, with a copy button that says what it did.
        page.get_by_role("link", name="API keys").click()
        page.wait_for_url(f"{server}/app/settings/keys")
        accessible(page, shots, "settings-keys-empty")
        page.get_by_label("Name").fill("CRM sync")
        page.get_by_label("Role").select_option("integration")
        page.get_by_role("button", name="Create key").click()
        secret = page.locator("#secret-value")
        secret.wait_for()
        value = secret.input_value()
        assert len(value) > 20
        page.get_by_role("button", name="Copy").click()
        expect(page.locator("#copy-status")).not_to_have_text("")
        accessible(page, shots, "settings-keys-created")
        page.goto(f"{server}/app/settings/keys")
        assert page.locator("#secret-value").count() == 0
        assert value not in page.content()
        assert "CRM sync" in page.locator("main").inner_text()
        # Revoking asks first: answered no, nothing happens; yes, the key is revoked.
        revoke = page.get_by_role("button", name="Revoke CRM sync")
        revoke.click()
        asked = page.evaluate("sessionStorage.getItem('asked')")
        assert asked.startswith("Revoke CRM sync?")
        assert page.locator(".badge", has_text="revoked").count() == 0
        page.evaluate("sessionStorage.setItem('answer', 'yes')")
        revoke.click()
        expect(page.locator(".badge", has_text="revoked")).to_have_count(1)
        page.evaluate("sessionStorage.removeItem('answer')")

        # A marketing key with chosen pages.
        page.goto(f"{server}/app/settings/marketing-keys")
        accessible(page, shots, "settings-marketing-keys-empty")
        page.get_by_label("Name").fill("Agency")
        page.locator("#new-storage").check()
        page.get_by_role("button", name="Create marketing key").click()
        page.locator("#secret-value").wait_for()
        assert "storage" in page.locator(".key-pages").inner_text()
        accessible(page, shots, "settings-marketing-keys")

        page.goto(f"{server}/app/settings/tokens")
        accessible(page, shots, "settings-tokens")

        # An invite, accepted in another browser.
        page.goto(f"{server}/app/settings/people")
        accessible(page, shots, "settings-people")
        page.get_by_label("Email address").fill("mo@example.com")
        page.locator("#invite-role").select_option("marketing")
        page.get_by_role("button", name="Create invite link").click()
        page.locator("#secret-value").wait_for()
        link = page.locator("#secret-value").input_value()
        assert link.startswith(f"{server}/app/invite?token=")
        assert page.get_by_role("button", name="Copy").is_visible()
        accessible(page, shots, "settings-people-invited")

        other = invitee.new_page()
        other.goto(link)
        assert "mo@example.com" in other.locator("main").inner_text()
        accessible(other, shots, "invite")
        other.fill("#name", "Mo")
        other.fill("#password", PASSWORD)
        other.fill("#password_again", PASSWORD)
        other.get_by_role("button", name="Join and sign in").click()
        other.wait_for_url(f"{server}/app/")
        nav = other.get_by_role("navigation", name="Main")
        assert nav.get_by_role("link").all_inner_texts() == ["Home", "Analytics"]
        assert refused(other) == []

        # Change a setting: the new person becomes an agent.
        page.goto(f"{server}/app/settings/people")
        page.get_by_text("Change role of Mo").click()
        page.get_by_label("Role of Mo").select_option("agent")
        page.get_by_role("button", name="Save role").click()
        page.wait_for_url(f"{server}/app/settings/people")
        member = page.locator("li", has_text="mo@example.com")
        expect(member.locator(".badge").first).to_have_text("agent")
        assert "No invite is waiting" in page.locator("main").inner_text()
        accessible(page, shots, "settings-people-changed")
        assert refused(page) == []
    finally:
        owner.close()
        invitee.close()
