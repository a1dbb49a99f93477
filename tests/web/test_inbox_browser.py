"""The Inbox in Chromium against the real server: the empty inbox, the list, a thread; a reply
by keyboard, sent with htmx and announced; a message posted through the API appears without a
reload; no serious or critical accessibility problem at desktop and phone widths; no
Content-Security-Policy violation.

Screenshots of every page checked are written to a folder printed at the end of the test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect
from starlette.testclient import TestClient

from leadline.app import create_app
from leadline.config import Settings
from tests.fixtures.browser_pages import (
    accessible,
    focus_comes_to,
    focused,
    new_context,
    refused,
    sign_in_page,
    tab_to,
)
from tests.fixtures.factories import make_key
from tests.fixtures.inbox import start
from tests.fixtures.leadiosa import bearer
from tests.fixtures.web import (
    PASSWORD,
    cheap_hashing,  # noqa: F401  (a fixture)
    make_member,
)

pytestmark = pytest.mark.usefixtures("cheap_hashing")

OWNER = "owner@example.com"


@pytest.fixture
def leadiosa(settings: Settings) -> Iterator[TestClient]:
    make_member(settings, "acme", OWNER, role="owner", name="Olive Owner")
    key = make_key(settings, "acme", "admin")
    with TestClient(create_app(settings), headers=bearer(key)) as api:
        yield api


def test_reply_by_keyboard_and_see_a_new_message_without_reload(
    browser: Browser, server: str, leadiosa: TestClient, shots: Path
) -> None:
    context = new_context(browser)
    page = context.new_page()
    try:
        sign_in_page(page, server, OWNER, PASSWORD, then="/app/inbox")
        expect(page.get_by_role("heading", name="No open conversations")).to_be_visible()
        accessible(page, shots, "inbox-empty")

        conversation = start(
            leadiosa, contact={"name": "Ada Lovelace"}, text="Do you ship to Leiden?"
        )
        leadiosa.post(
            f"/api/v1/conversations/{conversation['id']}/notes",
            json={"text": "Ada ordered twice before."},
        )
        start(leadiosa, contact={"email": "grace@example.com"}, subject="Invoice", text="Hi")
        page.reload()
        accessible(page, shots, "inbox-list")

        # Open the conversation by keyboard.
        tab_to(page, "Ada Lovelace", most=30)
        page.keyboard.press("Enter")
        page.wait_for_url(f"{server}/app/inbox/{conversation['id']}")
        expect(page.locator("h1")).to_have_text("Conversation with Ada Lovelace")
        note = page.locator(".entry-note")
        expect(note).to_contain_text("Internal note")
        expect(note).to_contain_text("Ada ordered twice before.")
        accessible(page, shots, "inbox-thread")
        # axe leaves empty style attributes behind, which htmx would copy when it swaps.
        page.reload()

        # Reply by keyboard: sent with htmx (the page stays), announced, the focus kept.
        page.evaluate("window.stillHere = true")
        tab_to(page, "Your reply", most=40)
        page.keyboard.type("Yes, we do. It takes two days.")
        page.keyboard.press("Tab")
        assert focused(page) == "Send reply"
        page.keyboard.press("Enter")
        expect(page.locator("#inbox-announce")).to_have_text("Reply sent.")
        expect(page.locator("#thread .entry-operator")).to_contain_text("two days")
        focus_comes_to(page, "reply-text")
        expect(page.locator("#reply-text")).to_have_value("")
        assert page.evaluate("window.stillHere") is True

        # The contact answers through the API: it appears without a reload, once.
        answer = leadiosa.post(
            f"/api/v1/conversations/{conversation['id']}/messages",
            json={"text": "Perfect, thank you!", "author": "contact"},
        )
        assert answer.status_code == 201
        arrived = page.locator("#thread .entry-contact", has_text="Perfect, thank you!")
        expect(arrived).to_have_count(1, timeout=15_000)
        assert page.evaluate("window.stillHere") is True
        expect(page.locator("#thread li")).to_have_count(4)

        # A refused form is shown where it was, with what was wrong.
        page.locator("#reply-text").focus()
        page.keyboard.type("   ")
        page.locator("#reply-text").evaluate("element => element.removeAttribute('required')")
        page.keyboard.press("Tab")
        page.keyboard.press("Enter")
        expect(page.get_by_role("alert")).to_contain_text("must not be empty")
        assert page.evaluate("window.stillHere") is True

        # Ctrl+Enter sends a note.
        page.locator("#note-text").focus()
        page.keyboard.type("Follow up on Friday.")
        page.keyboard.press("Control+Enter")
        expect(page.locator("#inbox-announce")).to_have_text("Note added. Only your team sees it.")
        expect(page.locator("#thread .entry-note").last).to_contain_text("Follow up on Friday.")
        focus_comes_to(page, "note-text")
        # A teammate's note (through the API) appears too; each entry once.
        leadiosa.post(
            f"/api/v1/conversations/{conversation['id']}/notes",
            json={"text": "She prefers email."},
        )
        expect(page.locator("#thread .entry-note", has_text="She prefers email.")).to_have_count(
            1, timeout=15_000
        )
        expect(page.locator("#thread li")).to_have_count(6)
        assert page.evaluate("window.stillHere") is True

        # Close it, then it is listed as closed.
        page.get_by_role("button", name="Close", exact=True).click()
        expect(page.locator("#inbox-announce")).to_have_text("Conversation closed.")
        expect(page.get_by_role("button", name="Reopen")).to_be_visible()
        assert refused(page) == []
        accessible(page, shots, "inbox-thread-closed")
        page.goto(f"{server}/app/inbox?status=closed")
        expect(page.locator(".inbox-contact")).to_have_text(["Ada Lovelace"])
        assert refused(page) == []
    finally:
        context.close()


def test_the_thread_in_dark_mode_on_a_phone(
    browser: Browser, server: str, leadiosa: TestClient, shots: Path
) -> None:
    conversation = start(leadiosa, contact={"name": "Ada"}, text="A question")
    context = new_context(browser, "dark")
    page = context.new_page()
    try:
        sign_in_page(page, server, OWNER, PASSWORD, then=f"/app/inbox/{conversation['id']}")
        accessible(page, shots, "inbox-thread-dark")
        page.goto(f"{server}/app/inbox")
        accessible(page, shots, "inbox-list-dark")
        assert refused(page) == []
    finally:
        context.close()
