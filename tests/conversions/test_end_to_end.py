"""From an ad click to Google Ads: a tracked visit with a ``gclid`` and the visitor's consent,
a form capture from it, the lead qualified over the Octanist API, the jobs run, and the upload
arriving at a local server speaking Google's wire format. With consent denied, the preflight
says why and nothing reaches the server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from leadline.app import create_app
from leadline.config import Settings
from leadline.conversions.preflight import dedupe_key
from tests.conversions.platforms.fake_api import FakeApi, fake_api
from tests.fixtures.factories import fetch_rows, make_form, make_key, make_site
from tests.fixtures.jobs import run_worker_until
from tests.fixtures.leadiosa import bearer

UPLOAD = "/v26/customers/1234567890:uploadClickConversions"
PAGE = {"Origin": "https://shop.example", "User-Agent": "Mozilla/5.0 (X11; Linux x86_64)"}
FORM = {
    "fields": [
        {"name": "FIRSTNAME", "label": "Name"},
        {"name": "EMAIL", "type": "email", "label": "Email"},
    ],
}
GOOGLE = {
    "platform": "google",
    "name": "Google Ads",
    "settings": {
        "customer_id": "123-456-7890",
        "conversion_actions": {"qualified_lead": "555", "purchase": "777"},
    },
    "credentials": {
        "developer_token": "dev-token",
        "client_id": "client-1",
        "client_secret": "secret-1",
        "refresh_token": "refresh-1",
    },
}


@pytest.fixture
def google() -> Iterator[FakeApi]:
    with fake_api() as fake:
        fake.always(
            "/token",
            200,
            {"access_token": "ya29.token", "expires_in": 3599, "token_type": "Bearer"},
        )
        fake.always(
            UPLOAD,
            200,
            {"results": [{"gclid": "x", "conversionAction": "x"}], "jobId": "1"},
        )
        yield fake


@pytest.fixture
def instance(
    database_url: str, settings: Settings, google: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    """The instance's settings, Google's API pointed at the local server by its setting."""
    monkeypatch.setenv("LEADLINE_CONVERSIONS_BASE_URL_GOOGLE", google.url)
    configured = Settings(database_url=database_url, jobs_poll_seconds=0.05)
    assert configured.conversions_base_url_google == google.url
    return configured


@pytest.fixture
def app(instance: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(instance)) as client:
        yield client


@pytest.fixture
def site(instance: Settings) -> str:
    key = make_site(instance, "acme", "shop.example")
    make_form(instance, key, FORM)
    return key


@pytest.fixture
def admin(instance: Settings) -> str:
    return make_key(instance, "acme", "admin")


@pytest.fixture
def destination(app: TestClient, admin: str) -> str:
    created = app.post("/api/v1/conversions/destinations", json=GOOGLE, headers=bearer(admin))
    assert created.status_code == 201, created.text
    destination_id: str = created.json()["data"]["id"]
    return destination_id


def lead_from_a_click(app: TestClient, admin: str, site: str, consent: dict[str, Any]) -> str:
    """A visit from a Google ad click with ``consent``, a form sent from it; the lead's id."""
    started = app.post(
        "/track/session/start",
        json={
            "siteKey": site,
            "url": "https://shop.example/flats?gclid=Cj0KCQ-E2e_click&utm_source=google",
            "consent": {**consent, "source": "gcm"},
        },
        headers=PAGE,
    )
    assert started.status_code == 200, started.text
    visit = started.json()
    events = app.post(
        "/track/events/batch",
        json={"siteKey": site, "sessionId": visit["session_id"], "events": [{"type": "click"}]},
        headers=PAGE,
    )
    assert events.status_code == 200, events.text
    captured = app.post(
        "/lead.capture",
        json={
            "siteKey": site,
            "formId": "enquiry",
            "FIRSTNAME": "Ada",
            "EMAIL": "ada@example.com",
            "__visitor_id": visit["visitor_id"],
            "__session_id": visit["session_id"],
        },
        headers=PAGE,
    )
    assert captured.status_code == 200, captured.text
    listed = app.get("/api/leads", headers={"X-API-KEY": admin})
    assert listed.status_code == 200, listed.text
    (lead,) = listed.json()["data"]
    assert lead["gclid"] == "Cj0KCQ-E2e_click"
    lead_id: str = lead["id"]
    return lead_id


def qualify(app: TestClient, admin: str, lead_id: str) -> None:
    answer = app.patch(
        "/api/leads", json={"id": lead_id, "status": "qualified"}, headers={"X-API-KEY": admin}
    )
    assert answer.status_code == 200, answer.text


def conversions_of(app: TestClient, admin: str, lead_id: str) -> dict[str, Any]:
    answer = app.get(f"/api/v1/leads/{lead_id}/conversions", headers=bearer(admin))
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()["data"]
    return found


def settled(instance: Settings) -> bool:
    """Every job has run, and no upload waits."""
    jobs = fetch_rows(
        instance, "SELECT COUNT(*) AS n FROM jobs WHERE state NOT IN ('succeeded', 'failed')"
    )
    pending = fetch_rows(
        instance, "SELECT COUNT(*) AS n FROM conversion_uploads WHERE state = 'pending'"
    )
    return jobs[0]["n"] == 0 and pending[0]["n"] == 0


def test_a_qualified_lead_from_a_click_reaches_google(
    app: TestClient,
    instance: Settings,
    google: FakeApi,
    site: str,
    admin: str,
    destination: str,
) -> None:
    granted = {
        "ad_storage": True,
        "ad_user_data": True,
        "ad_personalization": False,
        "analytics_storage": True,
    }
    lead_id = lead_from_a_click(app, admin, site, granted)
    before = conversions_of(app, admin, lead_id)
    # Still open: nothing to send for it yet.
    assert before["status"] == "open"
    qualify(app, admin, lead_id)
    ready = conversions_of(app, admin, lead_id)
    (check,) = ready["preflight"]
    assert (check["platform"], check["destination_id"], check["state"], check["reasons"]) == (
        "google",
        destination,
        "eligible",
        [],
    )

    run_worker_until(instance, lambda: len(google.to(UPLOAD)) >= 1 and settled(instance))

    (upload,) = google.to(UPLOAD)
    assert upload.method == "POST"
    assert upload.headers["authorization"] == "Bearer ya29.token"
    assert upload.headers["developer-token"] == "dev-token"
    body = upload.json()
    assert body["partialFailure"] is True
    (row,) = body["conversions"]
    assert row["gclid"] == "Cj0KCQ-E2e_click"
    assert row["orderId"] == dedupe_key(lead_id, destination, "qualified")
    assert row["conversionAction"] == "customers/1234567890/conversionActions/555"
    assert row["consent"] == {"adUserData": "GRANTED", "adPersonalization": "DENIED"}
    assert not {"gbraid", "wbraid"} & row.keys()
    assert "conversionValue" not in row  # a qualified lead has no value; a won one would

    (sent,) = conversions_of(app, admin, lead_id)["uploads"]
    assert (sent["state"], sent["event_name"], sent["dedupe_key"]) == (
        "sent",
        "qualified_lead",
        row["orderId"],
    )


def test_with_consent_denied_the_preflight_says_so_and_nothing_is_sent(
    app: TestClient,
    instance: Settings,
    google: FakeApi,
    site: str,
    admin: str,
    destination: str,
) -> None:
    denied = {
        "ad_storage": True,
        "ad_user_data": False,
        "ad_personalization": False,
        "analytics_storage": True,
    }
    lead_id = lead_from_a_click(app, admin, site, denied)
    qualify(app, admin, lead_id)
    found = conversions_of(app, admin, lead_id)
    (check,) = found["preflight"]
    assert (check["platform"], check["destination_id"], check["state"], check["reasons"]) == (
        "google",
        destination,
        "blocked",
        ["consent_denied"],
    )

    planned = (
        "SELECT COUNT(*) AS n FROM jobs WHERE kind = 'conversions.plan' AND state = 'succeeded'"
    )
    run_worker_until(
        instance, lambda: fetch_rows(instance, planned)[0]["n"] == 1 and settled(instance)
    )

    (upload,) = conversions_of(app, admin, lead_id)["uploads"]
    assert (upload["state"], upload["reasons"]) == ("skipped", ["consent_denied"])
    assert google.requests == []
