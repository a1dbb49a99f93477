"""The chat widget in Chromium, on a page of a customer's site with the tracker: a visitor opens
it by keyboard and writes, the operator's reply appears, focus stays in the open panel, Escape
closes it, axe finds nothing serious; and nothing is stored without consent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page

from leadline.config import Settings
from tests.fixtures.browser import PageServer, eventually, script_tag
from tests.fixtures.browser_pages import accessible
from tests.fixtures.factories import fetch_rows, make_key, make_site, set_workspace
from tests.fixtures.inbox import make_person
from tests.fixtures.leadiosa import bearer

# What has the focus inside the widget's shadow root (None: nothing of the widget).
FOCUSED = """() => {
  const host = document.querySelector('[data-leadline-widget]');
  const at = host && host.shadowRoot.activeElement;
  return at ? (at.getAttribute('aria-label') || at.id || at.tagName) : null;
}"""
IN_PANEL = """() => {
  const root = document.querySelector('[data-leadline-widget]').shadowRoot;
  return !!root.activeElement && root.querySelector('[role=dialog]').contains(root.activeElement);
}"""
PANEL_HIDDEN = "() => document.querySelector('[data-leadline-widget]').shadowRoot"
PANEL_HIDDEN += ".querySelector('[role=dialog]').hidden"
LOG_TEXT = """() => document.querySelector('[data-leadline-widget]').shadowRoot
  .querySelector('[role=log]').textContent"""


def chat_page(page_server: PageServer, server: str, site: str, consent: str) -> str:
    widget = script_tag(f"{server}/widget.js", {"data-workspace": "acme", "data-language": "en"})
    return page_server.with_script(
        f"{server}/tracker.js",
        {"data-site-key": site, "data-consent-mode": consent},
        after=widget.replace("<script ", "<script async ", 1),
        body="<main><h1>Shop</h1><p>Flats and houses.</p><a href='#top'>Top</a></main>",
        title="Shop",
    )


def open_by_keyboard(page: Page) -> None:
    page.wait_for_function("() => document.querySelector('[data-leadline-widget]')")
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate(FOCUSED) == "Open chat":
            break
    assert page.evaluate(FOCUSED) == "Open chat"
    page.keyboard.press("Enter")
    assert not page.evaluate(PANEL_HIDDEN)
    assert page.evaluate(IN_PANEL)


def the_conversation(settings: Settings) -> dict[str, Any]:
    rows = eventually(lambda: fetch_rows(settings, "SELECT id, visit_id FROM conversations"))
    (row,) = rows
    return row


def test_a_visitor_chats_by_keyboard_and_sees_the_reply(
    page: Page, page_server: PageServer, server: str, settings: Settings, shots: Path
) -> None:
    site = make_site(settings, "acme", "127.0.0.1")
    admin = bearer(make_key(settings, "acme", "admin"))
    make_person(settings, "ops@example.com", availability="online")
    page.goto(chat_page(page_server, server, site, "granted") + "?gclid=TeSt-gclid_widget")
    page.wait_for_function("() => window.PulseGateSession.getSessionId()")
    visit_id = page.evaluate("() => window.PulseGateSession.getSessionId()")

    open_by_keyboard(page)
    page.keyboard.type("Do you have flats in Porto? ada@example.com")
    page.keyboard.press("Enter")

    conversation = the_conversation(settings)
    assert conversation["visit_id"] == visit_id  # the tracker's visit, for the lead's click
    # The email in the chat made a lead, with the page's ad click.
    leads = fetch_rows(settings, "SELECT email, gclid, source FROM leads")
    assert leads == [{"email": "ada@example.com", "gclid": "TeSt-gclid_widget", "source": "chat"}]
    with httpx.Client(base_url=server, headers=admin) as api:
        url = f"/api/v1/conversations/{conversation['id']}/messages"
        texts = eventually(lambda: [m["text"] for m in api.get(url).json()["data"]])
        assert texts == ["Do you have flats in Porto? ada@example.com"]
        reply = api.post(url, json={"text": "Yes, three of them."})
        assert reply.status_code == 201, reply.text
    page.wait_for_function(f"() => ({LOG_TEXT})().includes('Yes, three of them.')")
    # The log is a live region: screen readers announce the reply.
    assert (
        page.evaluate(
            "() => document.querySelector('[data-leadline-widget]').shadowRoot"
            ".querySelector('[role=log]').getAttribute('aria-live')"
        )
        == "polite"
    )
    # Stored, since consent allows it: a reload rejoins the conversation.
    stored = page.evaluate("() => Object.keys(localStorage).filter(k => k.includes('widget'))")
    assert stored == ["leadline.widget.acme"]

    # Tab and Shift+Tab stay in the open panel.
    for key in ["Tab"] * 6 + ["Shift+Tab"] * 6:
        page.keyboard.press(key)
        assert page.evaluate(IN_PANEL), key

    # The test page's own markup is not the widget's: give it the language a site's page has.
    page.evaluate("() => document.documentElement.setAttribute('lang', 'en')")
    accessible(page, shots, "widget-open")

    page.keyboard.press("Escape")
    assert page.evaluate(PANEL_HIDDEN)
    assert page.evaluate(FOCUSED) == "Open chat"

    page.reload()
    open_by_keyboard(page)
    page.wait_for_function(f"() => ({LOG_TEXT})().includes('Yes, three of them.')")


def test_without_consent_the_widget_stores_nothing(
    page: Page, page_server: PageServer, server: str, settings: Settings
) -> None:
    site = make_site(settings, "acme", "127.0.0.1")
    make_person(settings, "ops@example.com", availability="online")
    page.goto(chat_page(page_server, server, site, "denied"))
    open_by_keyboard(page)
    page.keyboard.type("Hello")
    page.keyboard.press("Enter")
    the_conversation(settings)
    page.wait_for_function(f"() => ({LOG_TEXT})().includes('Hello')")
    assert page.evaluate("() => localStorage.length") == 0
    assert page.evaluate("() => document.cookie") == ""


def test_nobody_online_shows_the_offline_form(
    page: Page, page_server: PageServer, server: str, settings: Settings
) -> None:
    site = make_site(settings, "acme", "127.0.0.1")
    page.goto(chat_page(page_server, server, site, "denied"))
    open_by_keyboard(page)
    root = "document.querySelector('[data-leadline-widget]').shadowRoot"
    page.wait_for_function(f"() => !{root}.querySelector('input[type=email]').hidden")
    page.evaluate(
        f"""() => {{
          const r = {root};
          r.querySelector('input[autocomplete=name]').value = 'Ada';
          r.querySelector('input[type=email]').value = 'ada@example.com';
          r.querySelector('textarea').value = 'Call me back';
          r.querySelector('button[type=submit]').click();
        }}"""
    )
    the_conversation(settings)
    rows = fetch_rows(settings, "SELECT name, email FROM contacts")
    assert rows == [{"name": "Ada", "email": "ada@example.com"}]
    assert fetch_rows(settings, "SELECT subject FROM conversations") == [
        {"subject": "Offline message"}
    ]


def test_identify_with_a_bad_hash_is_refused(
    page: Page, page_server: PageServer, server: str, settings: Settings, cli: Any
) -> None:
    import hashlib
    import hmac

    from leadline.cli import app

    make_site(settings, "acme", "127.0.0.1")
    set_workspace(settings, "acme", widget_identity_verification=True)
    secret = cli.invoke(app, ["widget", "secret", "--workspace", "acme"]).output.strip()
    good = hmac.new(secret.encode(), b"user-42", hashlib.sha256).hexdigest()
    page.goto(chat_page(page_server, server, site="pk_none", consent="denied"))
    page.wait_for_function("() => window.leadiosa && window.leadiosa.identify")
    refused = page.evaluate(
        "() => leadiosa.identify({id: 'user-42', hash: 'f'.repeat(64)})"
        ".then(() => 'ok', e => e.code)"
    )
    assert refused == "identity_not_verified"
    assert fetch_rows(settings, "SELECT id FROM contacts") == []
    contact = page.evaluate(f"() => leadiosa.identify({{id: 'user-42', hash: '{good}'}})")
    assert fetch_rows(settings, "SELECT id, external_id FROM contacts") == [
        {"id": contact, "external_id": "user-42"}
    ]
