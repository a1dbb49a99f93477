"""URLs, referrers and ports that do not parse get a 4xx in the surface's envelope, never a
500, and nothing of the request is stored: on every route that reads a URL (or a domain) in its
body, or the page's Origin or Referer, first, then a few routes' answers exactly."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from leadline.config import Settings
from tests.fixtures.badinput import BadInput, World, check
from tests.fixtures.factories import fetch_rows, make_key, make_site
from tests.fixtures.routes import OPERATIONS, URL, Operation, ids

BAD = ["https://[::1/", "https://x:99999/", "http://shop.example:abc/"]
PAGE = {"Origin": "https://shop.example"}

UNPARSEABLE = BadInput(
    body={URL: [f'"{url}"'.encode() for url in BAD]},
    pages=BAD,
)


@pytest.mark.parametrize("operation", OPERATIONS, ids=ids(OPERATIONS))
def test_urls_that_do_not_parse_are_refused(world: World, operation: Operation) -> None:
    check(world, operation, UNPARSEABLE)


@pytest.mark.parametrize("bad", BAD)
def test_a_visit_whose_url_or_referrer_does_not_parse_is_refused(
    client: TestClient, settings: Settings, bad: str
) -> None:
    site = make_site(settings, "acme", "shop.example")
    for body in (
        {"siteKey": site, "url": bad},
        {"siteKey": site, "url": "https://shop.example/", "referrer": bad},
    ):
        answer = client.post("/track/session/start", json=body, headers=PAGE)
        assert answer.status_code == 400, answer.text
        assert "does not parse" in answer.json()["error"]
    assert fetch_rows(settings, "SELECT id FROM visits") == []


def test_a_page_view_whose_url_does_not_parse_is_refused(
    client: TestClient, settings: Settings
) -> None:
    site = make_site(settings, "acme", "shop.example")
    started = client.post(
        "/track/session/start", json={"siteKey": site, "url": "https://shop.example/"}, headers=PAGE
    ).json()
    answer = client.post(
        "/track/event",
        json={
            "siteKey": site,
            "sessionId": started["session_id"],
            "type": "page_view",
            "url": "https://[::1/",
        },
        headers=PAGE,
    )
    assert answer.status_code == 400
    assert fetch_rows(settings, "SELECT id FROM events") == []


@pytest.mark.parametrize("bad", BAD)
def test_an_origin_that_does_not_parse_names_no_page(
    client: TestClient, settings: Settings, bad: str
) -> None:
    site = make_site(settings, "acme", "shop.example")
    for method, path, body in (
        ("POST", "/track/session/start", {"siteKey": site, "url": "https://shop.example/"}),
        ("POST", "/lead.capture", {"siteKey": site, "formId": "f", "EMAIL": "ada@example.com"}),
        ("GET", f"/forms/config?siteKey={site}&formId=f", None),
    ):
        answer = client.request(method, path, json=body, headers={"Origin": bad})
        assert answer.status_code == 403, (path, answer.text)
        assert "error" in answer.json()
    assert fetch_rows(settings, "SELECT id FROM lead_submissions") == []


def test_a_site_domain_that_does_not_parse_is_refused(
    client: TestClient, settings: Settings
) -> None:
    key = make_key(settings, "acme", "admin")
    answer = client.post(
        "/analytics/sites", json={"domains": ["https://[::1/"]}, headers={"X-API-Key": key}
    )
    assert answer.status_code == 400
    assert "is not a domain" in answer.json()["error"]


@pytest.mark.parametrize("bad", BAD)
def test_a_webhook_url_that_does_not_parse_is_refused(
    client: TestClient, admin_key: str, bad: str
) -> None:
    bearer = {"Authorization": f"Bearer {admin_key}"}
    answer = client.post(
        "/api/v1/webhooks", json={"url": bad, "events": ["lead.created"]}, headers=bearer
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "unsafe_webhook_target"
    assert client.get("/api/v1/webhooks", headers=bearer).json()["data"] == []
