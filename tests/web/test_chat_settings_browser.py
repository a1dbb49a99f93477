"""The chat widget's and AI replies' settings, the knowledge pages and the thread's AI drafts
in Chromium against the real server: the snippet copied, the identity secret shown and rotated,
the assistant's settings saved, an article written and found; then the settings walked with
the keyboard alone, every focused control showing its focus. axe-core finds no serious or
critical problem on any page at desktop and phone widths, and nothing breaks the pages'
Content-Security-Policy. Screenshots go to the folder printed at the end."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from leadline.config import Settings
from leadline.kit.time import utcnow
from tests.fixtures.browser_pages import (
    accessible,
    focused,
    new_context,
    refused,
    sign_in_page,
    tab_to,
)
from tests.fixtures.factories import execute_sql, fetch_rows, make_key
from tests.fixtures.web import (
    PASSWORD,
    cheap_hashing,  # noqa: F401  (a fixture)
    make_member,
)

pytestmark = pytest.mark.usefixtures("cheap_hashing")

OWNER = "owner@example.com"
ANSWER_YES = (
    "window.confirm = (question) => { sessionStorage.setItem('asked', question); return true; };"
)
# Whether the focused element shows the focus: it matches :focus-visible and is drawn with an
# outline (the stylesheet's focus ring).
FOCUS_SHOWN = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return false;
  const style = getComputedStyle(el);
  return el.matches(':focus-visible') && style.outlineStyle !== 'none'
    && parseFloat(style.outlineWidth) >= 2;
}"""


def _focus_shown(page: Page) -> bool:
    shown: bool = page.evaluate(FOCUS_SHOWN)
    return shown


def _tab_and_see(page: Page, wanted: str, most: int = 40) -> None:
    """Tab to ``wanted``; each control passed on the way shows its focus."""
    for _ in range(most):
        page.keyboard.press("Tab")
        assert _focus_shown(page), f"no visible focus on {focused(page)!r}"
        if focused(page) == wanted:
            return
    raise AssertionError(f"Tab never reached {wanted!r}")


def test_an_owner_sets_up_the_widget_ai_and_knowledge(
    browser: Browser, server: str, settings: Settings, shots: Path
) -> None:
    make_member(settings, "acme", OWNER, role="owner")
    context = new_context(browser)
    context.add_init_script(ANSWER_YES)
    page = context.new_page()
    try:
        sign_in_page(page, server, OWNER, PASSWORD, "/app/settings")
        page.get_by_role("link", name="Chat widget").click()
        page.wait_for_url(f"{server}/app/settings/widget")
        snippet = page.locator("#widget-snippet").input_value()
        assert 'data-workspace="acme"' in snippet
        page.get_by_role("button", name="Copy snippet").click()
        expect(page.locator("#snippet-status")).not_to_have_text("")
        accessible(page, shots, "settings-widget")

        page.get_by_role("button", name="Turn verification on").click()
        expect(page.locator("#verification-state")).to_have_text("on")
        page.get_by_role("button", name="Show the secret").click()
        first = page.locator("#secret-value").input_value()
        assert len(first) == 64
        accessible(page, shots, "settings-widget-secret")
        page.get_by_role("button", name="Rotate the secret").click()
        expect(page.get_by_role("heading", name="Your new identity secret")).to_be_visible()
        assert page.evaluate("sessionStorage.getItem('asked')").startswith("Make a new identity")
        second = page.locator("#secret-value").input_value()
        assert second != first
        assert len(second) == 64

        page.goto(f"{server}/app/settings/assistant")
        accessible(page, shots, "settings-assistant")
        page.get_by_label("Base URL").fill("http://127.0.0.1:8999/v1")
        page.get_by_label("Model").fill("local-model")
        page.locator("#assistant-key-field").fill("sk-browser-key-0123456789")
        page.get_by_label("Business description").fill("Bicycles in Lisbon.")
        page.get_by_label("Turn AI replies on").check()
        page.get_by_role("button", name="Save AI settings").click()
        expect(page.locator("#assistant-announce")).to_have_text("Saved.")
        expect(page.locator("#assistant-key")).to_have_text("set")
        assert "sk-browser-key" not in page.content()
        accessible(page, shots, "settings-assistant-saved")

        page.get_by_role("navigation", name="Main").get_by_role("link", name="Knowledge").click()
        page.wait_for_url(f"{server}/app/knowledge")
        accessible(page, shots, "knowledge-empty")
        page.get_by_role("link", name="New article").click()
        page.get_by_label("Title").fill("Returns")
        page.get_by_label("Body").fill("A bicycle can be returned within 30 days for a refund.")
        page.get_by_label("Tags").fill("returns, policy")
        page.get_by_role("button", name="Create article").click()
        expect(page.locator("#knowledge-announce")).to_have_text("The article was created.")
        accessible(page, shots, "knowledge-article")
        page.get_by_role("link", name="Knowledge").first.click()
        page.get_by_label("What a visitor might ask").fill("refund please")
        page.get_by_role("button", name="Search").click()
        expect(page.locator(".found-chunk mark")).to_have_text(["refund"])
        accessible(page, shots, "knowledge-search")
        assert refused(page) == []
    finally:
        context.close()


def test_the_thread_shows_ai_drafts_accessibly(
    browser: Browser, server: str, settings: Settings, shots: Path
) -> None:
    make_member(settings, "acme", OWNER, role="owner")
    key = make_key(settings, "acme")
    answer = httpx.post(
        f"{server}/api/v1/conversations",
        json={"contact": {"name": "Ada"}, "message": {"text": "Can I return it?"}},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert answer.status_code == 201, answer.text
    conversation_id = answer.json()["data"]["id"]
    workspace_id = fetch_rows(settings, "SELECT id FROM workspaces WHERE slug = 'acme'")[0]["id"]
    execute_sql(
        settings,
        "INSERT INTO assistant_drafts (id, workspace_id, conversation_id, message_id, text,"
        " citations, created_at) VALUES ('drf_1', :ws, :conv, 'msg_x', :text, '[]', :at)",
        ws=workspace_id,
        conv=conversation_id,
        text="Yes, within 30 days.",
        at=utcnow(),
    )
    context = new_context(browser, "dark")
    page = context.new_page()
    try:
        sign_in_page(page, server, OWNER, PASSWORD, f"/app/inbox/{conversation_id}")
        drafts = page.get_by_role("region", name="AI drafts")
        expect(drafts).to_contain_text("Yes, within 30 days.")
        accessible(page, shots, "inbox-thread-drafts-dark")
        assert refused(page) == []
    finally:
        context.close()


def test_the_settings_by_keyboard_alone_with_the_focus_visible(
    browser: Browser, server: str, settings: Settings, shots: Path
) -> None:
    make_member(settings, "acme", OWNER, role="owner")
    context = new_context(browser)
    context.add_init_script(ANSWER_YES)
    page = context.new_page()
    try:
        page.goto(f"{server}/app/signin?next=/app/settings")
        tab_to(page, "Email address")
        page.keyboard.type(OWNER)
        page.keyboard.press("Tab")
        page.keyboard.type(PASSWORD)
        page.keyboard.press("Enter")
        page.wait_for_url(f"{server}/app/settings")

        # Through the settings index to the widget's page.
        _tab_and_see(page, "Chat widget")
        page.keyboard.press("Enter")
        page.wait_for_url(f"{server}/app/settings/widget")
        _tab_and_see(page, "Copy snippet")
        page.keyboard.press("Enter")
        expect(page.locator("#snippet-status")).not_to_have_text("")
        _tab_and_see(page, "Turn verification on")
        page.keyboard.press("Enter")
        page.wait_for_url(f"{server}/app/settings/widget?done=on")
        expect(page.locator("#widget-announce")).to_have_text("Identity verification is on.")
        _tab_and_see(page, "Show the secret")
        page.keyboard.press("Enter")
        page.locator("#secret-value").wait_for()
        _tab_and_see(page, "Copy")
        page.keyboard.press("Enter")
        expect(page.locator("#copy-status")).not_to_have_text("")

        # Back to the index by its crumb, then the AI settings: fill the form by keyboard.
        page.keyboard.press("Shift+Tab")
        for _ in range(20):
            if focused(page) == "Settings" and page.evaluate(
                "document.activeElement.closest('.crumbs') !== null"
            ):
                break
            page.keyboard.press("Shift+Tab")
        assert _focus_shown(page)
        page.keyboard.press("Enter")
        page.wait_for_url(f"{server}/app/settings")
        _tab_and_see(page, "AI replies")
        page.keyboard.press("Enter")
        page.wait_for_url(f"{server}/app/settings/assistant")
        _tab_and_see(page, "Base URL")
        page.keyboard.type("http://127.0.0.1:8999/v1")
        _tab_and_see(page, "Model")
        page.keyboard.type("local-model")
        _tab_and_see(page, "Business description")
        page.keyboard.type("Bicycles in Lisbon.")
        # The mode is a radio group: the arrow keys choose within it.
        _tab_and_see(page, "Answer visitors when no operator is online")
        page.keyboard.press("ArrowDown")
        assert page.locator("#mode-suggest_drafts").is_checked()
        _tab_and_see(page, "Turn AI replies on")
        page.keyboard.press("Space")
        assert page.locator("#assistant-enabled").is_checked()
        _tab_and_see(page, "Save AI settings")
        page.keyboard.press("Enter")
        page.wait_for_url(f"{server}/app/settings/assistant?done=saved")
        expect(page.locator("#assistant-announce")).to_have_text("Saved.")
        expect(page.locator("#assistant-state")).to_have_text("On")
        assert page.locator("#mode-suggest_drafts").is_checked()
        accessible(page, shots, "settings-assistant-keyboard")
        assert refused(page) == []
    finally:
        context.close()
    [row] = fetch_rows(settings, "SELECT enabled, mode, model FROM assistant_settings")
    assert (bool(row["enabled"]), row["mode"], row["model"]) == (
        True,
        "suggest_drafts",
        "local-model",
    )
