"""/form.js and /pulse.js in Chromium against the real server: a form rendered from its config
on the site's own pages only, filled and sent by keyboard, and what the submission became."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page

from leadline.config import Settings
from leadline.sites import forms
from tests.fixtures.browser import PageServer, eventually, script_tag
from tests.fixtures.captured import custom, leads, submissions
from tests.fixtures.factories import fetch_rows, make_site, run_in_transaction
from tests.fixtures.server import live_server

ENQUIRY: dict[str, Any] = {
    "title": "Ask about a flat",
    "fields": [
        {"name": "FIRSTNAME", "type": "text", "label": "Your name", "required": True},
        {"name": "EMAIL", "type": "email", "label": "Email", "required": True},
        {
            "name": "PHONE",
            "type": "tel",
            "label": "Phone",
            "pattern": "[0-9 +()-]{6,20}",
            "placeholder": "020 7946 0000",
        },
        {
            "name": "PROJECT",
            "type": "select",
            "label": "Project",
            "options": ["Riverside", {"value": "hill", "label": "Hill View"}],
        },
        {"name": "USER_MESSAGE", "type": "textarea", "label": "Message", "max_length": 2000},
        {"name": "NOTES", "type": "textarea", "label": "Anything else"},
        {"name": "NEWSLETTER", "type": "checkbox", "label": "Send me news"},
        {"name": "SOURCE", "type": "hidden", "value": "WebSite"},
    ],
    "submit_label": "Send enquiry",
    "thank_you_message": "Thanks, we will call you.",
    "consent_text": "I agree to be contacted about this enquiry.",
}


@pytest.fixture
def server(settings: Settings) -> Iterator[str]:
    with live_server(settings) as base:
        yield base


def make_form(settings: Settings, site: str, definition: dict[str, Any]) -> None:
    run_in_transaction(
        settings,
        lambda session: forms.create_form(
            session, site_key=site, form_id="enquiry", form_json=json.dumps(definition)
        ),
    )


@pytest.fixture
def site(settings: Settings) -> str:
    """A site whose pages are those of the page server (its host is 127.0.0.1), with the form
    ``enquiry``."""
    key = make_site(settings, "acme", "127.0.0.1")
    make_form(settings, key, ENQUIRY)
    return key


def form_page(page_server: PageServer, server: str, site: str, **attrs: str) -> str:
    """The /form.js snippet in the head, rendering into a target later in the body."""
    return page_server.with_script(
        f"{server}/form.js",
        {"data-site-key": site, "data-form-id": "enquiry", "data-target": "#here", **attrs},
        body='<main><h1>Flats</h1><div id="here"></div></main>',
    )


# Warnings on the console, uncaught errors and what the page posted to /lead.capture, kept in
# the page; the posts in sessionStorage, which outlives going to the thank-you page.
# (Playwright's page.on() and expect_request() do not work under the browser fixture's
# event-loop confinement.)
WATCH = """
window.__warnings = []; window.__errors = [];
const warn = console.warn, post = window.fetch;
console.warn = (...args) => { window.__warnings.push(args.join(' ')); warn.apply(console, args); };
addEventListener('error', e => window.__errors.push(String(e.message)));
addEventListener('unhandledrejection', e => window.__errors.push(String(e.reason)));
window.fetch = function (url, init) {
  if (String(url).endsWith('/lead.capture')) {
    const posted = JSON.parse(sessionStorage.getItem('posted') || '[]');
    posted.push({method: init.method, headers: init.headers, body: JSON.parse(init.body)});
    sessionStorage.setItem('posted', JSON.stringify(posted));
  }
  return post.apply(this, arguments);
};
"""


def watch(page: Page) -> None:
    page.add_init_script(WATCH)


def posted(page: Page) -> list[dict[str, Any]]:
    """Every request the page sent to /lead.capture: method, headers and JSON body."""
    found: list[dict[str, Any]] = page.evaluate(
        "JSON.parse(sessionStorage.getItem('posted') || '[]')"
    )
    return found


def reported(page: Page) -> tuple[list[str], list[str]]:
    """The page's console warnings and uncaught errors so far."""
    warnings, errors = page.evaluate("[window.__warnings, window.__errors]")
    return warnings, errors


def fill_by_keyboard(page: Page) -> None:
    """What a person does: types into each field, moving on with Tab, ticks the consent box
    with the space bar, and sends with Enter on the button (the honeypot is never reached)."""
    page.get_by_label("Your name").focus()
    page.keyboard.type("Ada Lovelace")
    page.keyboard.press("Tab")
    page.keyboard.type("ada@example.com")
    page.keyboard.press("Tab")
    page.keyboard.type("020 7946 0000")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.name") == "PROJECT"
    page.get_by_label("Project").select_option("hill")
    page.keyboard.press("Tab")
    page.keyboard.type("Two bedrooms, please.")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")  # past "Anything else"
    page.keyboard.press("Space")  # Send me news
    page.keyboard.press("Tab")
    page.keyboard.press("Space")  # the consent
    page.keyboard.press("Tab")
    focused = page.evaluate("[document.activeElement.tagName, document.activeElement.type]")
    assert focused == ["BUTTON", "submit"]
    page.keyboard.press("Enter")


def send_by_keyboard(page: Page) -> dict[str, Any]:
    """Fill and send the form by keyboard; returns the JSON body it posted."""
    fill_by_keyboard(page)
    return last_post(page)


def last_post(page: Page) -> dict[str, Any]:
    sent = eventually(lambda: posted(page))[-1]
    assert sent["method"] == "POST"
    assert sent["headers"] == {"Content-Type": "application/json", "Accept": "application/json"}
    body: dict[str, Any] = sent["body"]
    return body


def test_a_form_is_rendered_accessible_and_its_submission_becomes_a_lead(
    page: Page, page_server: PageServer, server: str, settings: Settings, site: str
) -> None:
    watch(page)
    page.goto(form_page(page_server, server, site) + "?gclid=G-page&utm_source=newsletter")
    form = page.locator("#here form.pg-form")
    form.wait_for()

    # Real labels, the definition's constraints as attributes, a live status area.
    assert page.get_by_role("heading", name="Ask about a flat").is_visible()
    assert page.get_by_role("form", name="Ask about a flat").count() == 1
    name = page.get_by_label("Your name")
    assert name.get_attribute("required") == ""
    assert page.get_by_label("Email").get_attribute("type") == "email"
    phone = page.get_by_label("Phone")
    assert (phone.get_attribute("type"), phone.get_attribute("pattern")) == (
        "tel",
        "[0-9 +()-]{6,20}",
    )
    assert phone.get_attribute("placeholder") == "020 7946 0000"
    assert page.get_by_label("Message").get_attribute("maxlength") == "2000"
    assert page.get_by_label("Project").locator("option").all_inner_texts() == [
        "",
        "Riverside",
        "Hill View",
    ]
    consent = page.get_by_label("I agree to be contacted about this enquiry.")
    assert consent.get_attribute("required") == ""
    assert page.get_by_role("alert").count() == 1
    assert page.get_by_role("button", name="Send enquiry").is_visible()
    honeypot = page.locator("input[name=__pg_website]")
    assert [honeypot.get_attribute(a) for a in ("aria-hidden", "tabindex", "autocomplete")] == [
        "true",
        "-1",
        "off",
    ]
    assert page.locator("input[type=hidden][name=SOURCE]").get_attribute("value") == "WebSite"
    # No inline style but the honeypot's hiding place.
    styled = page.evaluate("[...document.querySelectorAll('#here [style]')].map(e => e.className)")
    assert styled == ["pg-hp"]

    # Sent empty: nothing goes out; each error is tied to its control, focus on the first.
    page.get_by_role("button", name="Send enquiry").focus()
    page.keyboard.press("Enter")
    assert name.get_attribute("aria-invalid") == "true"
    error_id = name.get_attribute("aria-describedby")
    assert error_id
    assert page.locator(f"#{error_id}").inner_text()
    assert consent.get_attribute("aria-invalid") == "true"
    assert phone.get_attribute("aria-invalid") is None  # optional, empty
    assert page.evaluate("document.activeElement.name") == "FIRSTNAME"
    assert page.get_by_role("alert").inner_text() == "Please correct the marked fields."
    # The form posts from its submit handler, which the key press has run: nothing was posted.
    # (That nothing was stored either is checked once the valid submission is.)
    assert posted(page) == []
    # The definition's pattern holds, though Chromium refuses it as a v-flag expression.
    phone.fill("not a phone")
    page.get_by_role("button", name="Send enquiry").click()
    assert phone.get_attribute("aria-invalid") == "true"
    phone.fill("")

    body = send_by_keyboard(page)
    assert "__session_id" not in body
    assert "__visitor_id" not in body
    assert (body["siteKey"], body["formId"], body["__pg_hp"]) == (site, "enquiry", "")
    assert body["__pg_consent"] is True
    assert "__pg_website" not in body
    thanks = page.get_by_role("alert")
    thanks.filter(has_text="Thanks, we will call you.").wait_for()
    assert page.locator("#here form input").count() == 0  # only the message is left
    assert page.evaluate("document.activeElement.className") == "pg-status"
    assert len(posted(page)) == 1  # the invalid attempts posted nothing

    (lead,) = eventually(lambda: leads(server, settings) or None)
    assert (lead["name"], lead["email"], lead["source"]) == (
        "Ada Lovelace",
        "ada@example.com",
        "inbound",
    )
    assert lead["phone"] == "020 7946 0000"
    fields = custom(lead)
    assert fields["PROJECT"] == "hill"
    assert fields["SOURCE"] == "WebSite"
    assert fields["NEWSLETTER"] == "true"
    assert fields["USER_MESSAGE"] == "Two bedrooms, please."
    assert not any(name.startswith("__") or name in ("siteKey", "formId") for name in fields)
    (row,) = submissions(settings)  # this one only: the invalid attempts stored nothing
    # No tracker on the page: the click ID and UTM tags of the current URL, under their names.
    sent = json.loads(row["fields"])
    assert (sent["gclid"], sent["utm_source"]) == ("G-page", "newsletter")
    assert not any(name.startswith("__") or name in ("siteKey", "formId") for name in sent)
    assert (row["outcome"], row["form_id"], row["project"]) == ("created", "enquiry", "hill")
    assert row["site_id"] is not None
    assert (row["visitor_id"], row["visit_id"]) == (None, None)
    assert row["time_to_submit_ms"] > 0
    assert "no_tracking_session" in json.loads(row["suspicion_reasons"])
    assert reported(page) == ([], [])


def test_pulse_js_tracks_the_visit_and_its_form_carries_it_to_the_lead(
    page: Page, page_server: PageServer, server: str, settings: Settings
) -> None:
    site = make_site(settings, "acme", "127.0.0.1")
    thanks = page_server.add("<title>Thanks</title><p>Thank you</p>")
    make_form(settings, site, {**ENQUIRY, "thank_you_url": thanks})
    watch(page)
    url = page_server.with_script(
        f"{server}/pulse.js",
        {"data-site-key": site, "data-consent-mode": "granted"},
        body=(
            '<div id="contact"></div>'
            f"<script>window.rendered = PulseGate.renderForm({{siteKey: '{site}',"
            " formId: 'enquiry', target: '#contact'}).then(f => !!f);</script>"
        ),
    )
    page.goto(f"{url}?gclid=TeSt-gclid_1&utm_source=google&utm_medium=cpc&utm_campaign=spring")
    assert page.evaluate("window.rendered") is True
    page.wait_for_function("PulseGate.getSessionId() && PulseGate.getVisitorId()")
    visit_id, visitor_id = page.evaluate("[PulseGate.getSessionId(), PulseGate.getVisitorId()]")
    assert page.evaluate("PulseGate === PulseGateSession")
    # A single-page app moves on: the landing URL the tracker saw still carries the click.
    page.evaluate("history.pushState({}, '', '/contact')")
    assert reported(page) == ([], [])

    fill_by_keyboard(page)
    page.wait_for_url(thanks)
    body = last_post(page)
    assert (body["__session_id"], body["__visitor_id"]) == (visit_id, visitor_id)
    assert (body["siteKey"], body["formId"], body["__pg_hp"]) == (site, "enquiry", "")
    assert body["__pg_tts"] > 0

    (lead,) = eventually(lambda: leads(server, settings) or None)
    assert lead["email"] == "ada@example.com"
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
    (row,) = submissions(settings)
    sent = json.loads(row["fields"])
    assert (sent["gclid"], sent["utm_source"], sent["utm_campaign"]) == (
        "TeSt-gclid_1",
        "google",
        "spring",
    )
    assert (row["visitor_id"], row["visit_id"]) == (visitor_id, visit_id)
    (visit,) = fetch_rows(settings, "SELECT id, visitor_id FROM visits")
    assert (visit["id"], visit["visitor_id"]) == (visit_id, visitor_id)
    assert "no_tracking_session" not in json.loads(row["suspicion_reasons"])


def test_a_page_on_another_domain_gets_no_form_and_stores_nothing(
    page: Page, page_server: PageServer, server: str, settings: Settings, site: str
) -> None:
    watch(page)
    # The same page, from a host that is not one of the site's domains.
    url = form_page(page_server, server, site).replace("127.0.0.1", "localhost", 1)
    page.goto(url)
    page.locator("#here .pg-unavailable").wait_for()
    assert page.locator("#here").inner_text() == "This form is not available."
    assert page.locator("form").count() == 0
    assert [w for w in reported(page)[0] if "form enquiry not shown" in w]
    # The API says so too, and never throws; an unknown form on the site's own page likewise.
    assert (
        page.evaluate(
            f"PulseGateForms.render({{siteKey: '{site}', formId: 'enquiry', target: '#here'}})"
        )
        is None
    )
    assert page.evaluate("PulseGateForms.render({target: '#nowhere'})") is None
    # Without data-target, in the body: the message takes the form's place, after the tag.
    tag = script_tag(f"{server}/form.js", {"data-site-key": site, "data-form-id": "no-such-form"})
    page.goto(page_server.add(f"<title>t</title><body><p>before</p>{tag}<p>after</p></body>"))
    page.locator("p.pg-unavailable").wait_for()
    assert page.locator("body > *").evaluate_all("els => els.map(e => e.className)") == [
        "",
        "",
        "pg-form-box",
        "",
    ]
    assert page.locator("form").count() == 0
    assert reported(page)[1] == []
    assert submissions(settings) == []
    assert leads(server, settings) == []


def test_a_submission_with_the_honeypot_filled_is_kept_aside(
    page: Page, page_server: PageServer, server: str, settings: Settings, site: str
) -> None:
    watch(page)
    page.goto(form_page(page_server, server, site))
    page.locator("#here form").wait_for()
    # What a bot does: fills every input, the hidden one too.
    page.evaluate(
        "document.querySelector('input[name=__pg_website]').value = 'http://spam.example'"
    )
    assert send_by_keyboard(page)["__pg_hp"] == "http://spam.example"
    # The answer is the same as for a person: a bot learns nothing.
    page.get_by_role("alert").filter(has_text="Thanks, we will call you.").wait_for()

    (row,) = eventually(lambda: submissions(settings) or None)
    assert row["outcome"] == "kept_aside"
    assert row["lead_id"] is None
    assert "honeypot_filled" in json.loads(row["suspicion_reasons"])
    assert leads(server, settings) == []


def test_an_error_answer_is_shown_and_what_was_typed_is_kept(
    page: Page, page_server: PageServer, server: str, settings: Settings, site: str
) -> None:
    page.goto(form_page(page_server, server, site))
    page.locator("#here form").wait_for()
    # Longer than the server takes for one field (the form sets no max_length for it).
    page.get_by_label("Anything else").fill("x" * 10_001)
    fill_by_keyboard(page)
    alert = page.get_by_role("alert")
    alert.filter(has_text="at most 10000 are accepted").wait_for()
    assert "NOTES" in alert.inner_text()
    assert page.get_by_label("Your name").input_value() == "Ada Lovelace"
    assert page.get_by_label("Project").input_value() == "hill"
    assert len(page.get_by_label("Anything else").input_value()) == 10_001
    assert page.get_by_label("I agree to be contacted about this enquiry.").is_checked()
    assert submissions(settings) == []

    # Corrected, it goes.
    page.get_by_label("Anything else").fill("")
    page.get_by_role("button", name="Send enquiry").click()
    alert.filter(has_text="Thanks, we will call you.").wait_for()
    assert len(eventually(lambda: leads(server, settings) or None)) == 1
