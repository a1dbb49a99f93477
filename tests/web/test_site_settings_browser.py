"""The site settings pages in Chromium against the real server: an owner creates a site, copies
its snippet (the clipboard holds it), creates a form and sees /form.js render its preview,
which checks the fields and sends nothing; adds a webhook endpoint, an address, and changes a
consent setting. axe-core finds no serious or critical problem on any page, at desktop and
phone widths, and the pages run under their Content-Security-Policy without a violation.

Screenshots of every page checked are written to a folder printed at the end of the test."""

from __future__ import annotations

import html
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy.ext.asyncio import AsyncSession

from leadline.auth.roles import Role
from leadline.auth.service import Principal
from leadline.config import Settings
from leadline.webhooks import service as webhooks
from leadline.workspaces import service as workspaces
from tests.fixtures.browser_pages import (
    DESKTOP,
    PHONE,
    accessible,
    new_context,
    refused,
    sign_in_page,
)
from tests.fixtures.factories import fetch_rows, make_site, run_in_transaction
from tests.fixtures.web import (
    PASSWORD,
    cheap_hashing,  # noqa: F401  (a fixture)
    make_member,
)

pytestmark = pytest.mark.usefixtures("cheap_hashing")

OWNER = "owner@example.com"


def checked(page: Page, shots: Path, name: str) -> None:
    """axe-core at desktop and phone widths, and nothing wider than a phone's screen."""
    accessible(page, shots, name)
    page.set_viewport_size(PHONE)
    try:
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], name
    finally:
        page.set_viewport_size(DESKTOP)


def failed_delivery(settings: Settings) -> None:
    """A test event to the workspace's endpoint, whose every attempt failed with 503."""

    async def work(session: AsyncSession) -> None:
        ws = await workspaces.require(session, "acme")
        principal = Principal(workspace=ws, key_id="", role=Role.ADMIN)
        [endpoint] = (await webhooks.list_endpoints(session, principal, limit=1)).endpoints
        delivery = await webhooks.send_test(session, principal, endpoint.id)
        delivery.state, delivery.attempts, delivery.last_status = "failed", 8, 503

    run_in_transaction(settings, work)


def test_an_owner_sets_up_a_site_its_form_webhooks_addresses_and_consent(
    browser: Browser, server: str, settings: Settings, shots: Path
) -> None:
    make_member(settings, "acme", OWNER, role="owner", name="Olive Owner")
    context = new_context(browser)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server)
    page = context.new_page()
    try:
        sign_in_page(page, server, OWNER, PASSWORD, then="/app/settings/sites")
        expect(page.locator("h1")).to_have_text("Sites")
        expect(page.locator(".empty")).to_contain_text("no site yet")
        checked(page, shots, "settings-sites-empty")

        # A site.
        page.fill("#site-domain", "shop.example")
        page.fill("#site-name", "The shop")
        page.get_by_role("button", name="Create site").click()
        page.wait_for_url(f"{server}/app/settings/sites/site_*")
        expect(page.locator("h1")).to_have_text("The shop")
        expect(page.locator("#tracking-seen")).to_have_text("Never")

        # Its snippet, copied.
        snippet = html.unescape(page.locator("#snippet").inner_text())
        assert snippet.startswith(f'<script src="{server}/tracker.js" data-site-key="pk_live_')
        page.get_by_role("button", name="Copy snippet").click()
        expect(page.locator("#snippet ~ .copy-row .copy-status")).to_have_text(
            "Copied to the clipboard."
        )
        assert page.evaluate("navigator.clipboard.readText()") == snippet

        # A form, its preview following the definition as it is written, then saved.
        page.fill("#form-id", "contact")
        live = page.locator("#live-new form.pg-form")
        expect(live.locator("h2")).to_have_text("Contact us")
        written = page.locator("#form-json").input_value()
        page.fill("#form-json", written.replace("Contact us", "Call us back"))
        expect(live.locator("h2")).to_have_text("Call us back")
        said = page.locator(".form-preview:has(#live-new) .preview-status")
        expect(said).to_have_text("Preview updated.")
        page.fill("#form-json", written[:-1])
        expect(said).to_contain_text("Not valid JSON yet")
        page.fill("#form-json", written)
        expect(live.locator("h2")).to_have_text("Contact us")
        page.get_by_role("button", name="Create form").click()
        page.wait_for_url(f"{server}/app/settings/sites/site_*#forms")
        preview = page.locator("[data-form-json] form.pg-form")
        expect(preview).to_be_visible()
        expect(preview.locator("h2")).to_have_text("Contact us")
        preview.get_by_role("button", name="Send").click()
        expect(preview.locator(".pg-status")).to_have_text("Please correct the marked fields.")
        preview.get_by_label("Your name").fill("Ada")
        preview.get_by_label("Email").fill("ada@example.com")
        preview.get_by_role("button", name="Send").click()
        expect(preview.locator(".pg-status")).to_contain_text("nothing was sent")
        checked(page, shots, "settings-site")

        # Webhooks: an endpoint, its secret shown once, its empty delivery log.
        page.goto(f"{server}/app/settings/webhooks")
        expect(page.locator(".empty")).to_contain_text("No endpoint yet")
        checked(page, shots, "settings-webhooks-empty")
        page.fill("#webhook-url", "https://1.1.1.1/hooks")
        page.get_by_label("lead.created").check()
        page.get_by_role("button", name="Add endpoint").click()
        expect(page.locator("#webhook-secret")).to_contain_text("whsec_")
        checked(page, shots, "settings-webhooks")
        page.get_by_role("link", name="https://1.1.1.1/hooks").click()
        expect(page.locator(".empty")).to_contain_text("Nothing has been sent")
        checked(page, shots, "settings-webhook-log-empty")
        # A delivery that failed, sent again from the log.
        failed_delivery(settings)
        page.reload()
        row = page.locator("tbody tr")
        expect(row).to_have_count(1)
        expect(row).to_contain_text("failed")
        expect(row).to_contain_text("503")
        checked(page, shots, "settings-webhook-log")
        row.get_by_role("button", name="Redeliver", exact=False).click()
        expect(page.locator("tbody tr")).to_contain_text("being sent")

        # Addresses.
        page.goto(f"{server}/app/settings/addresses")
        checked(page, shots, "settings-addresses-empty")
        page.fill("#address", "203.0.113.0/24")
        page.get_by_role("button", name="Add address").click()
        expect(page.locator("#block-heading + .list")).to_contain_text("203.0.113.0/24")
        page.fill("#address", "203.0.113.0/33")
        page.get_by_role("button", name="Add address").click()
        expect(page.locator("h1")).to_have_text("That did not work")
        expect(page.locator("main")).to_contain_text("is not an IP address or network")
        page.go_back()

        # Consent.
        page.goto(f"{server}/app/settings/privacy")
        checked(page, shots, "settings-privacy")
        page.get_by_label("Refuse it, and store nothing").check()
        page.get_by_label("Honour Global Privacy Control", exact=False).check()
        page.get_by_role("button", name="Save consent settings").click()
        page.wait_for_url(f"{server}/app/settings/privacy")
        expect(page.get_by_label("Refuse it, and store nothing")).to_be_checked()

        assert refused(page) == []
    finally:
        context.close()

    # The site's page, its preview too, reads as well in dark mode.
    dark = new_context(browser, "dark")
    try:
        page = dark.new_page()
        sign_in_page(page, server, OWNER, PASSWORD, then="/app/settings/sites")
        page.get_by_role("link", name="The shop").click()
        expect(page.locator("[data-form-json] form.pg-form")).to_be_visible()
        checked(page, shots, "settings-site-dark")
        assert refused(page) == []
    finally:
        dark.close()

    # The preview sent nothing: no submission, no lead.
    assert fetch_rows(settings, "SELECT id FROM lead_submissions") == []
    assert fetch_rows(settings, "SELECT id FROM leads") == []
    [workspace] = fetch_rows(settings, "SELECT erased_returns FROM workspaces")
    assert workspace["erased_returns"] == "refuse"
    [site] = fetch_rows(settings, "SELECT respect_gpc, respect_dnt FROM sites")
    assert (bool(site["respect_gpc"]), bool(site["respect_dnt"])) == (True, False)


def test_without_the_clipboard_api_the_snippet_is_selected_to_copy_by_hand(
    browser: Browser, server: str, settings: Settings
) -> None:
    make_member(settings, "acme", OWNER, role="owner")
    key = make_site(settings, "acme", "shop.example")
    [site] = fetch_rows(settings, "SELECT id FROM sites WHERE site_key = :key", key=key)
    context = new_context(browser)
    # A browser without the Clipboard API (or one that refuses it).
    context.add_init_script("Object.defineProperty(navigator, 'clipboard', {value: undefined})")
    page = context.new_page()
    try:
        sign_in_page(page, server, OWNER, PASSWORD, then=f"/app/settings/sites/{site['id']}")
        page.get_by_role("button", name="Copy snippet").click()
        expect(page.locator("#snippet ~ .copy-row .copy-status")).to_have_text(
            "Selected: press Ctrl+C (or Cmd+C) to copy."
        )
        chosen = page.evaluate("window.getSelection().toString()")
        assert chosen == page.locator("#snippet").inner_text()
        assert key in chosen
        assert page.evaluate("document.activeElement.id") == "snippet"
        assert refused(page) == []
    finally:
        context.close()
