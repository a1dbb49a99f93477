"""JSON no database can keep whole (invalid UTF-8, lone surrogates in values or keys, NUL
anywhere, numbers out of range, NaN) gets a 400 in the surface's envelope on every route that
takes a body: never a 500, never a partial write."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from leadline.config import Settings
from tests.fixtures.factories import fetch_rows, make_site

UNSTORABLE = {
    "invalid UTF-8": b'{"name": "\xff\xfe", "EMAIL": "a@example.com"}',
    "lone surrogate in a value": b'{"name": "\\ud800", "EMAIL": "a@example.com"}',
    "lone surrogate in a key": b'{"\\udfff": "x", "name": "a", "EMAIL": "a@example.com"}',
    "lone surrogate in free JSON": b'{"name": "a", "custom": {"k": "\\udfff"}}',
    "NUL in a key": b'{"a\\u0000": "x", "name": "a"}',
    "NUL in free JSON": b'{"name": "a", "custom": {"k": "\\u0000"}}',
    "a number out of range": b'{"name": "a", "value": 1e400}',
    "a negative number out of range": b'{"name": "a", "value": -1e999}',
    "a number out of range in free JSON": b'{"name": "a", "custom": {"n": 1e400}}',
    "NaN": b'{"name": "a", "custom": {"n": NaN}}',
}
CASES = pytest.mark.parametrize("body", list(UNSTORABLE.values()), ids=list(UNSTORABLE))


@CASES
def test_the_octanist_api_refuses(
    client: TestClient, settings: Settings, admin_key: str, body: bytes
) -> None:
    answer = client.post(
        "/api/leads",
        content=body,
        headers={"X-API-KEY": admin_key, "Content-Type": "application/json"},
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["code"] == "VALIDATION_ERROR"
    assert fetch_rows(settings, "SELECT id FROM leads") == []


@CASES
def test_the_leadiosa_api_refuses(client: TestClient, admin_key: str, body: bytes) -> None:
    answer = client.post(
        "/api/v1/webhooks",
        content=body.replace(b'"name"', b'"url"', 1),
        headers={"Authorization": f"Bearer {admin_key}", "Content-Type": "application/json"},
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["code"] == "validation_error"


@CASES
def test_lead_capture_refuses(client: TestClient, settings: Settings, body: bytes) -> None:
    site = make_site(settings, "acme", "shop.example")
    with_site = body.replace(b"{", b'{"siteKey": "' + site.encode() + b'", ', 1)
    answer = client.post(
        "/lead.capture",
        content=with_site,
        headers={"Origin": "https://shop.example", "Content-Type": "application/json"},
    )
    assert answer.status_code == 400, answer.text
    assert "error" in answer.json()
    assert fetch_rows(settings, "SELECT id FROM lead_submissions") == []


@pytest.mark.parametrize(
    "body",
    [
        b'{"siteKey": "SITE", "url": "https://shop.example/\xff"}',
        b'{"siteKey": "SITE", "url": "https://shop.example/", "title": "\\ud800"}',
        b'{"siteKey": "\xff"}',
    ],
)
def test_tracking_refuses(client: TestClient, settings: Settings, body: bytes) -> None:
    site = make_site(settings, "acme", "shop.example")
    answer = client.post(
        "/track/session/start",
        content=body.replace(b"SITE", site.encode()),
        headers={"Origin": "https://shop.example"},
    )
    assert answer.status_code == 400, answer.text
    assert fetch_rows(settings, "SELECT id FROM visits") == []
