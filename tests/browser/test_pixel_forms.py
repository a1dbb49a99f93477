"""The Octanist pixel's form capture in Chromium against the real server: a site's own form,
captured as it is sent, and OCT.submitLeadForm, become leads with the visit's attribution and
without the values that are never kept; a page on another host gets nothing stored."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page

from leadline.config import Settings
from tests.fixtures.browser import PageServer, eventually
from tests.fixtures.captured import custom, leads, submissions
from tests.fixtures.factories import fetch_rows, make_site
from tests.fixtures.server import live_server

LANDING = "?gclid=TeSt-gclid_1&utm_source=google&utm_medium=cpc&utm_campaign=spring"
# Values that must never leave the page, and never be stored.
SECRETS = ("hunter2", "4111 1111 1111 1111", "5555-5555-5555-4444", "tok-csrf-1", "cap-tcha-1")

FORM = """
<form id="enquiry" action="{action}" method="post">
  <input name="name" aria-label="Name">
  <input name="email" type="email" aria-label="Email">
  <input name="phone" type="tel" aria-label="Phone">
  <input name="password" type="password" aria-label="Password">
  <input name="cardnumber" autocomplete="cc-number" aria-label="Card number">
  <input name="reference" aria-label="Reference">
  <input type="hidden" name="csrfmiddlewaretoken" value="tok-csrf-1">
  <textarea name="g-recaptcha-response" style="display: none">cap-tcha-1</textarea>
  <label><input type="checkbox" name="newsletter" value="yes"> News</label>
  <label><input type="checkbox" name="terms" value="agreed"> Terms</label>
  <button type="submit" name="send" value="go">Send</button>
</form>
"""

# What the page hands to navigator.sendBeacon, kept in sessionStorage (which outlives the
# form's own navigation to its action, on the same origin).
WATCH = """
const beacon = navigator.sendBeacon.bind(navigator);
navigator.sendBeacon = (url, body) => {
  if (String(url).includes('/api/integrations/incoming/pixel/')) {
    const sent = JSON.parse(sessionStorage.getItem('beacons') || '[]');
    sent.push({url: String(url), body: String(body)});
    sessionStorage.setItem('beacons', JSON.stringify(sent));
  }
  return beacon(url, body);
};
"""


@pytest.fixture
def server(settings: Settings) -> Iterator[str]:
    with live_server(settings) as base:
        yield base


@pytest.fixture
def site(settings: Settings) -> str:
    """A site whose pages are those of the page server (its host is 127.0.0.1)."""
    return make_site(settings, "acme", "127.0.0.1")


def beacons(page: Page) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = page.evaluate(
        "JSON.parse(sessionStorage.getItem('beacons') || '[]')"
    )
    return found


def pixel_page(page_server: PageServer, server: str, site: str, body: str, **attrs: str) -> str:
    return page_server.with_script(
        f"{server}/p",
        {"data-id": site, "data-consent-mode": "granted", **attrs},
        body=body,
        title="Flats for sale",
    )


def visit(page: Page, url: str) -> str:
    """Open the landing URL and wait for the pixel's session; its id."""
    page.add_init_script(WATCH)
    page.goto(url + LANDING)
    page.wait_for_function("OCT.getSessionId()")
    visit_id: str = page.evaluate("OCT.getSessionId()")
    return visit_id


def assert_attributed(lead: dict[str, Any]) -> None:
    assert (lead["gclid"], lead["utm_source"], lead["utm_medium"], lead["utm_campaign"]) == (
        "TeSt-gclid_1",
        "google",
        "cpc",
        "spring",
    )
    assert (lead["ad_storage"], lead["ad_user_data"], lead["analytics_storage"]) == (
        True,
        True,
        True,
    )
    assert lead["source"] == "inbound"


def assert_no_secrets(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text


def test_a_form_of_the_site_is_captured_as_it_is_sent_and_becomes_a_lead(
    page: Page, page_server: PageServer, server: str, settings: Settings, site: str
) -> None:
    thanks = page_server.add("<title>Thanks</title><p>Thank you</p>")
    url = pixel_page(
        page_server, server, site, FORM.format(action=thanks), **{"data-forms": "true"}
    )
    visit_id = visit(page, url)
    page.wait_for_function("OCT._pf.on")  # /pf.js came at once, for data-forms
    page.get_by_label("Name").fill("  Ada Lovelace ")
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Phone").fill("020 7946 0000")
    page.get_by_label("Password").fill("hunter2")
    page.get_by_label("Card number").fill("4111 1111 1111 1111")
    page.get_by_label("Reference").fill("5555-5555-5555-4444")  # a card number by its value
    page.get_by_label("News").check()
    page.get_by_role("button", name="Send").click()
    # The form's own submission went ahead: the browser is on its action's page.
    page.wait_for_url(thanks)
    assert page.locator("p").inner_text() == "Thank you"

    (sent,) = beacons(page)
    assert sent["url"] == f"{server}/api/integrations/incoming/pixel/{site}/"
    body = json.loads(sent["body"])
    assert body == {
        "fields": {
            "name": "Ada Lovelace",
            "email": "ada@example.com",
            "phone": "020 7946 0000",
            "newsletter": "yes",
        },
        "formIdentifier": "enquiry",
        "path": url.removeprefix(page_server.base_url),
        "title": "Flats for sale",
        "sessionId": visit_id,
        "domain": page_server.base_url,
    }

    (lead,) = eventually(lambda: leads(server, settings) or None)
    assert (lead["name"], lead["email"], lead["phone"]) == (
        "Ada Lovelace",
        "ada@example.com",
        "020 7946 0000",
    )
    assert_attributed(lead)
    assert lead["sessionId"] == visit_id
    assert custom(lead) == {"newsletter": "yes"}
    (row,) = submissions(settings)
    assert json.loads(row["fields"]) == body["fields"]
    assert (row["outcome"], row["form_id"], row["visit_id"]) == (
        "created",
        "enquiry",
        visit_id,
    )
    assert row["lead_id"] == lead["id"]
    assert_no_secrets(json.dumps(lead), json.dumps(row, default=str))


def test_submit_lead_form_sends_a_lead_by_hand(
    page: Page, page_server: PageServer, server: str, settings: Settings, site: str
) -> None:
    url = pixel_page(page_server, server, site, FORM.format(action="#"))
    visit_id = visit(page, url)
    # Without data-forms /pf.js is not loaded until the page asks for it.
    assert page.evaluate("document.querySelector('script[src$=\"/pf.js\"]')") is None
    assert page.evaluate("OCT.submitLeadForm({})") is False
    assert page.evaluate("OCT.submitLeadForm('Ada')") is False
    assert page.evaluate("OCT.submitLeadForm(null)") is False
    assert page.evaluate("document.querySelector('script[src$=\"/pf.js\"]')") is None

    sent = page.evaluate(
        """OCT.submitLeadForm({name: ' Grace Hopper ', email: 'grace@example.com',
            password: 'hunter2', cc_number: '4111 1111 1111 1111', _token: 'tok-csrf-1',
            interest: ['flats', 'houses'], note: ''},
            {formIdentifier: 'callback', title: 'Call me back', path: '/contact'})"""
    )
    assert sent is True
    (lead,) = eventually(lambda: leads(server, settings) or None)
    assert (lead["name"], lead["email"]) == ("Grace Hopper", "grace@example.com")
    assert_attributed(lead)
    assert custom(lead) == {"interest": "flats | houses"}
    (row,) = submissions(settings)
    assert json.loads(row["fields"]) == {
        "name": "Grace Hopper",
        "email": "grace@example.com",
        "interest": "flats | houses",
    }
    assert (row["form_id"], row["visit_id"]) == ("callback", visit_id)
    (beacon,) = beacons(page)
    assert json.loads(beacon["body"])["title"] == "Call me back"
    assert_no_secrets(beacon["body"], json.dumps(lead), json.dumps(row, default=str))

    # Once /pf.js is in, the answer is exact: nothing left after the skipping is false.
    assert page.evaluate("OCT._pf.on") == 1
    assert page.evaluate("OCT.submitLeadForm({password: 'hunter2', note: '  '})") is False
    assert page.evaluate("OCT.submitLeadForm({})") is False
    # The form itself, by the same rules as automatic capture: only the name is filled.
    page.get_by_label("Name").fill("Grace Hopper")
    page.get_by_label("Password").fill("hunter2")
    assert page.evaluate("OCT.submitLeadForm(document.getElementById('enquiry'))") is True
    assert [json.loads(b["body"])["fields"] for b in beacons(page)[1:]] == [
        {"name": "Grace Hopper"}
    ]
    assert json.loads(beacons(page)[1]["body"])["formIdentifier"] == "enquiry"
    eventually(lambda: len(submissions(settings)) == 2)
    assert len(leads(server, settings)) == 1  # the same visitor: joined to the lead


def test_a_page_on_another_host_gets_nothing_stored(
    page: Page, page_server: PageServer, server: str, settings: Settings, site: str
) -> None:
    # The same page, from a host that is not one of the site's domains.
    thanks = page_server.add("<title>Thanks</title><p>Thank you</p>").replace(
        "127.0.0.1", "localhost", 1
    )
    action = thanks.removeprefix("http://localhost:").partition("/")[2]
    url = pixel_page(
        page_server, server, site, FORM.format(action=f"/{action}"), **{"data-forms": "true"}
    ).replace("127.0.0.1", "localhost", 1)
    page.add_init_script(WATCH)
    page.goto(url + LANDING)
    page.wait_for_function("OCT._pf && OCT._pf.on")
    page.get_by_label("Email").fill("eve@example.com")
    assert page.evaluate("OCT.submitLeadForm({email: 'eve@example.com'})") is True
    page.get_by_role("button", name="Send").click()
    page.wait_for_url(thanks)
    assert len(beacons(page)) == 2
    # What the server said to them, as the page can read it.
    answer = page.evaluate(
        """(url) => fetch(url, {method: 'POST', body: JSON.stringify({fields: {email: 'e@x.io'}})})
            .then(r => r.json().then(b => [r.status, b.success, b.error.code]))""",
        f"{server}/api/integrations/incoming/pixel/{site}/",
    )
    assert answer == [403, False, "FORBIDDEN"]

    # A submission from one of the site's own pages, sent after all of those, is stored once
    # it is answered: by then they would have been too.
    page.goto(page_server.add("<title>Own page</title>"))
    answer = page.evaluate(
        """(url) => fetch(url, {method: 'POST', body: JSON.stringify({fields: {email: 'o@x.io'}})})
            .then(r => r.json().then(b => [r.status, b.success]))""",
        f"{server}/api/integrations/incoming/pixel/{site}/",
    )
    assert answer == [200, True]
    (row,) = submissions(settings)
    assert json.loads(row["fields"]) == {"email": "o@x.io"}
    assert [lead["email"] for lead in leads(server, settings)] == ["o@x.io"]
    assert fetch_rows(settings, "SELECT id FROM visits") == []  # refused as well
