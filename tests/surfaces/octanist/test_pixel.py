"""POST /api/integrations/incoming/pixel/{siteKey}/: the forms the Octanist pixel sends become
leads with the pixel's visit, never with a password, card, captcha or CSRF value in them,
only from the site's own pages; and the CORS answers a page can read."""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.testclient import TestClient

from leadline.forms.sensitive import MAX_VALUE
from tests.fixtures.captured import custom, submissions
from tests.fixtures.factories import make_key, make_site

PAGE = {"Origin": "https://shop.example", "User-Agent": "Mozilla/5.0 (X11; Linux x86_64)"}
BEACON = {**PAGE, "Content-Type": "text/plain;charset=UTF-8"}


@pytest.fixture
def site(settings: Any) -> str:
    return make_site(settings, "acme", "shop.example")


def route(site: str) -> str:
    return f"/api/integrations/incoming/pixel/{site}/"


def send(client: TestClient, site: str, body: Any, headers: dict[str, str] | None = None) -> Any:
    """As sendBeacon sends it: JSON text as text/plain."""
    return client.post(
        route(site), content=json.dumps(body), headers=BEACON if headers is None else headers
    )


def leads(client: TestClient, settings: Any) -> list[dict[str, Any]]:
    answer = client.get("/api/leads", headers={"X-API-KEY": make_key(settings, "acme", "admin")})
    assert answer.status_code == 200, answer.text
    data: list[dict[str, Any]] = answer.json()["data"]
    return data


def test_a_captured_form_becomes_a_lead_with_the_visit_of_the_pixel(
    client: TestClient, settings: Any, site: str
) -> None:
    visit = client.post(
        "/track/session/start",
        json={
            "siteKey": site,
            "url": "https://shop.example/flats?gclid=G-px&utm_source=google&utm_medium=cpc",
            "consent": {"mode": "granted"},
        },
        headers=PAGE,
    ).json()
    answer = send(
        client,
        site,
        {
            "fields": {
                "name": "Ada Lovelace",
                "email": "ada@example.com",
                "phone": "+44 20 7946 0000",
                "rooms": ["2", "3"],
                "message": "Two bedrooms, please.",
                "password": "hunter2",
                "cardnumber": "4111 1111 1111 1111",
                "reference": "5555-5555-5555-4444",
                "csrfmiddlewaretoken": "tok-1",
                "g-recaptcha-response": "cap-1",
                "octa_sid": visit["session_id"],
            },
            "formIdentifier": "enquiry",
            "path": "/contact",
            "title": "Contact us",
            "sessionId": visit["session_id"],
            "domain": "https://shop.example",
        },
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["access-control-allow-origin"] == "*"
    data = answer.json()
    assert data["success"] is True
    assert data["data"]["message"] == "Lead received"
    assert data["data"]["submissionId"].startswith("sub_")
    assert set(data["meta"]) == {"requestId", "timestamp"}

    (lead,) = leads(client, settings)
    assert (lead["name"], lead["email"], lead["phone"], lead["source"]) == (
        "Ada Lovelace",
        "ada@example.com",
        "+44 20 7946 0000",
        "inbound",
    )
    assert (lead["gclid"], lead["utm_source"], lead["utm_medium"]) == ("G-px", "google", "cpc")
    assert (lead["ad_storage"], lead["analytics_storage"]) == (True, True)
    assert lead["sessionId"] == visit["session_id"]
    assert custom(lead) == {"rooms": "2 | 3", "message": "Two bedrooms, please."}
    (row,) = submissions(settings)
    assert json.loads(row["fields"]) == {
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "phone": "+44 20 7946 0000",
        "rooms": "2 | 3",
        "message": "Two bedrooms, please.",
    }
    assert (row["id"], row["form_id"], row["visit_id"], row["outcome"]) == (
        data["data"]["submissionId"],
        "enquiry",
        visit["session_id"],
        "created",
    )
    stored = json.dumps([lead, row], default=str)
    for secret in ("hunter2", "4111", "5555-5555", "tok-1", "cap-1"):
        assert secret not in stored

    # The same person again, from the Referer alone: the submission joins the lead.
    again = send(
        client,
        site,
        {"fields": {"email": "ada@example.com", "note": "Still keen"}},
        {"Referer": "https://shop.example/contact", "Content-Type": "application/json"},
    )
    assert again.status_code == 200, again.text
    assert len(leads(client, settings)) == 1
    assert [row["outcome"] for row in submissions(settings)] == ["created", "merged"]


def test_without_a_visit_the_page_is_the_leads_website_and_path(
    client: TestClient, settings: Any, site: str
) -> None:
    answer = send(
        client,
        site,
        {
            "fields": {"email": "grace@example.com"},
            "path": "/contact",
            "domain": "shop.example",
            "sessionId": "no-such-visit",
        },
    )
    assert answer.status_code == 200, answer.text
    (lead,) = leads(client, settings)
    assert (lead["website"], lead["path"], lead["sessionId"]) == (
        "https://shop.example",
        "/contact",
        None,
    )
    (row,) = submissions(settings)
    assert "no_tracking_session" in json.loads(row["suspicion_reasons"])


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("password", "hunter2"),
        ("new_password", "hunter2"),
        ("pwd", "hunter2"),
        ("cardnumber", "4111111111111111"),
        ("card_number", "1234"),
        ("cc-number", "4111 1111 1111 1111"),
        ("cvc", "123"),
        ("cvv2", "123"),
        ("exp-date", "12/29"),
        ("expiry", "12/29"),
        ("cardholder", "A LOVELACE"),
        ("notes", "4111-1111-1111-1111"),  # a card number by its value alone
        ("ref", "378282246310005"),
        ("g-recaptcha-response", "03AGdBq2"),
        ("h-captcha-response", "P0_eyJ0"),
        ("cf-turnstile-response", "0.abc"),
        ("frc-captcha-solution", "a.b.c"),
        ("csrf", "tok-csrf-9"),
        ("csrfmiddlewaretoken", "tok-csrf-9"),
        ("_token", "tok-csrf-9"),
        ("authenticity_token", "tok-csrf-9"),
        ("__RequestVerificationToken", "tok-csrf-9"),
        ("_wpnonce", "tok-csrf-9"),
        ("X-XSRF-TOKEN", "tok-csrf-9"),
        ("octa_sid", "9b2f0c1e"),
    ],
)
def test_what_is_never_kept(
    client: TestClient, settings: Any, site: str, name: str, value: str
) -> None:
    answer = send(client, site, {"fields": {"email": "ada@example.com", name: value}})
    assert answer.status_code == 200, answer.text
    (row,) = submissions(settings)
    assert json.loads(row["fields"]) == {"email": "ada@example.com"}
    (lead,) = leads(client, settings)
    assert value not in json.dumps(lead)
    assert lead["custom"] is None


def test_values_are_trimmed_cut_and_joined(client: TestClient, settings: Any, site: str) -> None:
    answer = send(
        client,
        site,
        {
            "fields": {
                "email": "  ada@example.com ",
                "message": "m" * (MAX_VALUE + 50),
                "tags": [" red ", "", None, "blue", 7, True],
                "phone_00": "0049 3012 3456 30",  # Luhn-valid, but no card starts with 0
                "blank": "   ",
            }
        },
    )
    assert answer.status_code == 200, answer.text
    (row,) = submissions(settings)
    assert json.loads(row["fields"]) == {
        "email": "ada@example.com",
        "message": "m" * MAX_VALUE,
        "tags": "red | blue | 7 | true",
        "phone_00": "0049 3012 3456 30",
    }


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"", 400, "JSON object"),
        (b"not json", 400, "not valid JSON"),
        (b"[1, 2]", 400, "JSON object"),
        (b'"fields"', 400, "JSON object"),
        (b"{}", 400, "fields must be"),
        (b'{"fields": ["email"]}', 400, "fields must be"),
        (b'{"fields": {}}', 400, "nothing to keep"),
        (b'{"fields": {"email": " ", "x": null}}', 400, "nothing to keep"),
        (b'{"fields": {"password": "hunter2", "cvc": "123"}}', 400, "nothing to keep"),
        (b'{"fields": {"a": {"password": "x"}}}', 400, "fields.a"),
        (b'{"fields": {"email": "a@example.com"}, "formIdentifier": 5}', 400, "formIdentifier"),
        (b'{"fields": {"email": "a@example.com"}, "title": ["x"]}', 400, "title"),
        (
            b'{"fields": {"email": "a@example.com"}, "sessionId": "' + b"s" * 65 + b'"}',
            400,
            "sessionId",
        ),
        (b'{"fields": {"email": "not an address"}}', 400, "email"),
        (b'{"fields": {"email": "' + b"a" * 300_000 + b'"}}', 413, "at most"),
    ],
)
def test_bad_bodies_are_refused_with_nothing_kept(
    client: TestClient, settings: Any, site: str, body: bytes, status: int, message: str
) -> None:
    answer = client.post(route(site), content=body, headers=BEACON)
    assert answer.status_code == status, answer.text
    error = answer.json()
    assert error["success"] is False
    assert error["error"]["code"] == "VALIDATION_ERROR"
    assert message in error["error"]["message"]
    assert answer.headers["access-control-allow-origin"] == "*"
    assert submissions(settings) == []


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Referer": "https://evil.example/shop.example"},
        {"Origin": "https://shop.example.evil.example"},
        {},
    ],
)
def test_a_page_not_on_the_sites_domains_is_refused(
    client: TestClient, settings: Any, site: str, headers: dict[str, str]
) -> None:
    answer = send(client, site, {"fields": {"email": "eve@example.com"}}, headers)
    assert answer.status_code == 403, answer.text
    assert answer.json()["error"]["code"] == "FORBIDDEN"
    assert answer.headers["access-control-allow-origin"] == "*"
    unknown = send(client, "pk_live_NOSUCHSITE0000000000", {"fields": {"email": "a@b.co"}})
    assert unknown.status_code == 403
    assert submissions(settings) == []
    assert leads(client, settings) == []


def test_pages_may_post_and_read_the_answers_and_nothing_else_changes(
    client: TestClient, site: str
) -> None:
    for path in (route(site), f"/api/integrations/incoming/wp/{site}/"):
        preflight = client.options(
            path,
            headers={
                **PAGE,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type",
            },
        )
        assert preflight.status_code == 204
        assert preflight.headers["access-control-allow-origin"] == "*"
        assert "POST" in preflight.headers["access-control-allow-methods"]
        assert preflight.headers["access-control-allow-headers"] == "Content-Type"
        assert preflight.headers["access-control-max-age"] == "86400"
    # Without the slash, as the WordPress route takes it too.
    answer = client.post(route(site).rstrip("/"), json={"fields": {"email": "a@example.com"}})
    assert answer.status_code == 403  # no Origin: refused, and readable
    assert answer.headers["access-control-allow-origin"] == "*"
    # The API that takes keys stays out of reach of other sites' pages.
    listed = client.get("/api/leads", headers={"Origin": "https://shop.example"})
    assert "access-control-allow-origin" not in listed.headers
    assert (
        client.options("/api/leads", headers={"Origin": "https://shop.example"}).headers.get(
            "access-control-allow-origin"
        )
        is None
    )
