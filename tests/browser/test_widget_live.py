"""The widget live, in Chromium against a real server: what the visitor writes reaches an
operator's open event stream, the operator's reply reaches the widget through the widget's own
stream (no poll request is ever made), and typing shows on both sides."""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from playwright.sync_api import Page
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from leadline.config import Settings
from tests.browser.test_widget import LOG_TEXT, chat_page, open_by_keyboard, the_conversation
from tests.fixtures.browser import PageServer
from tests.fixtures.factories import make_key, make_site
from tests.fixtures.inbox import make_person
from tests.fixtures.leadiosa import bearer

# How long a test waits for an event before it fails (a deadline, not a measure).
DEADLINE = 8.0
TYPING = "() => document.querySelector('[data-leadline-widget]').shadowRoot.querySelector('.y')"
# Every request the page's scripts make, kept in the page as [method, url]: fetch calls, and
# the event streams opened (as STREAM). (Playwright's page.on() does not work under the browser
# fixture's event-loop handling.)
WATCH = """
window.__calls = [];
const post = window.fetch, Source = window.EventSource;
window.fetch = function (url, init) {
  window.__calls.push([(init && init.method) || 'GET', String(url)]);
  return post.apply(this, arguments);
};
if (Source) window.EventSource = class extends Source {
  constructor(url, options) { super(url, options); window.__calls.push(['STREAM', String(url)]); }
};
"""


def calls(page: Page) -> list[tuple[str, str]]:
    return [(method, url) for method, url in page.evaluate("() => window.__calls")]


class OperatorStream:
    """``/api/v1/stream`` read on a thread by a real HTTP client, its events queued."""

    def __init__(self, server: str, headers: dict[str, str]) -> None:
        self.server = server
        self.headers = headers
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.subscribed = threading.Event()
        self.failed: list[BaseException] = []

    def run(self) -> None:
        try:
            with (
                httpx.Client(base_url=self.server, headers=self.headers) as http,
                http.stream("GET", "/api/v1/stream", timeout=httpx.Timeout(60.0)) as answer,
            ):
                assert answer.status_code == 200, answer.read()
                found: dict[str, Any] = {}
                for line in answer.iter_lines():
                    if line.startswith("retry:"):
                        self.subscribed.set()
                    elif not line:
                        if "event" in found:
                            self.events.put(found)
                        found = {}
                    elif not line.startswith(":"):
                        name, _, value = line.partition(": ")
                        found[name] = json.loads(value) if name == "data" else value
        except BaseException as exc:  # the server stops at the test's end
            self.failed.append(exc)
        finally:
            self.subscribed.set()

    def wait_for(self, check: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """The first event ``check`` accepts; fails after the deadline."""
        while True:
            try:
                item = self.events.get(timeout=DEADLINE)
            except queue.Empty:
                raise AssertionError(f"no such event on the stream {self.failed}") from None
            if check(item):
                return item


@contextmanager
def operator_stream(server: str, headers: dict[str, str]) -> Iterator[OperatorStream]:
    stream = OperatorStream(server, headers)
    thread = threading.Thread(target=stream.run, name="operator stream", daemon=True)
    thread.start()
    assert stream.subscribed.wait(DEADLINE)
    assert not stream.failed, stream.failed
    yield stream


def test_the_visitor_and_the_operator_talk_live_and_see_each_other_type(
    page: Page, page_server: PageServer, server: str, settings: Settings
) -> None:
    site = make_site(settings, "acme", "127.0.0.1")
    admin = bearer(make_key(settings, "acme", "admin"))
    make_person(settings, "ops@example.com", availability="online")
    page.add_init_script(WATCH)

    with operator_stream(server, admin) as inbox, httpx.Client(base_url=server) as api:
        page.goto(chat_page(page_server, server, site, "granted"))
        open_by_keyboard(page)
        page.keyboard.type("Is the flat in Porto still free?")
        page.keyboard.press("Enter")
        conversation_id = the_conversation(settings)["id"]

        # The operator's open stream hears the visitor's message.
        heard = inbox.wait_for(lambda e: e["event"] == "message.created")
        assert heard["data"]["conversation_id"] == conversation_id
        assert heard["data"]["from"] == "contact"
        assert heard["data"]["text"] == "Is the flat in Porto still free?"

        # The visitor types again: the operator sees it.
        page.keyboard.type("And the")
        typing = inbox.wait_for(lambda e: e["event"] == "typing")
        assert typing["data"] == {
            "conversation_id": conversation_id,
            "from": "contact",
            "person_id": None,
            "typing": True,
        }

        # The operator types: the widget says so. Typing is not stored, so an event sent before
        # the widget's stream subscribed is lost: the operator tells again, as editors do while
        # someone types, until the deadline.
        url = f"/api/v1/conversations/{conversation_id}"
        for _ in range(int(DEADLINE)):
            told = api.post(url + "/typing", json={"typing": True}, headers=admin)
            assert told.status_code == 200, told.text
            try:
                page.wait_for_function(f"() => !({TYPING})().hidden", timeout=1000)
                break
            except PlaywrightTimeout:
                continue
        assert not page.evaluate(f"() => ({TYPING})().hidden"), "the operator's typing not shown"
        assert "Typing" in page.evaluate(f"() => ({TYPING})().textContent")

        # The operator replies: the widget shows it, and stops showing the typing.
        reply = api.post(url + "/messages", json={"text": "Yes, until June."}, headers=admin)
        assert reply.status_code == 201, reply.text
        page.wait_for_function(f"() => ({LOG_TEXT})().includes('Yes, until June.')")
        assert page.evaluate(f"() => ({TYPING})().hidden")

    # Delivered by the widget's stream: it opened one, and never asked for the messages.
    made = calls(page)
    streams = [url for method, url in made if method == "STREAM"]
    assert len(streams) == 1, made
    assert f"/conversations/{conversation_id}/stream?after=1&token=" in streams[0]
    assert [url for method, url in made if method == "GET" and "/messages" in url] == []
    # The visitor's typing went through the widget's route.
    assert ("POST", f"{server}/widget/v1/acme/conversations/{conversation_id}/typing") in made


def test_without_eventsource_the_widget_polls_slowly(
    page: Page, page_server: PageServer, server: str, settings: Settings
) -> None:
    site = make_site(settings, "acme", "127.0.0.1")
    admin = bearer(make_key(settings, "acme", "admin"))
    make_person(settings, "ops@example.com", availability="online")
    page.add_init_script("delete window.EventSource")
    page.add_init_script(WATCH)
    page.goto(chat_page(page_server, server, site, "granted"))
    open_by_keyboard(page)
    page.keyboard.type("Hello")
    page.keyboard.press("Enter")
    conversation_id = the_conversation(settings)["id"]
    with httpx.Client(base_url=server, headers=admin) as api:
        url = f"/api/v1/conversations/{conversation_id}/messages"
        assert api.post(url, json={"text": "Hi there"}).status_code == 201
    # The poll every 10 s brings the reply (the deadline allows for one).
    page.wait_for_function(
        f"() => ({LOG_TEXT})().includes('Hi there')", timeout=(10 + DEADLINE) * 1000
    )
    made = calls(page)
    assert not [url for method, url in made if "/stream" in url]
    assert [url for method, url in made if method == "GET" and "/messages?after=" in url]
