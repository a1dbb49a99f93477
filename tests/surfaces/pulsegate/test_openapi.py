"""The PulseGate OpenAPI document: valid, and a property-based run of it against a real server
(no 5xx, every answer as documented)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import schemathesis
from starlette.testclient import TestClient

from leadline.config import Settings
from tests.fixtures.database import empty_tables
from tests.fixtures.factories import make_form, make_key, make_site
from tests.fixtures.openapi import CHECKS, conforms, load
from tests.fixtures.server import live_server

ORIGIN = "https://shop.example"
JSON = "application/json"
CRM_SECRET = "crm-secret-for-the-fuzz-run"


@dataclass(frozen=True)
class Served:
    base_url: str
    key: str
    site_key: str


def test_the_document_is_served(client: TestClient) -> None:
    answer = client.get("/openapi.json")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    document = answer.json()
    assert document["openapi"].startswith("3.1")
    assert {
        "/track/session/start",
        "/track/event",
        "/track/events/batch",
        "/track/session/end",
        "/forms/config",
        "/lead.capture",
        "/lead.capture/crm-callback",
        "/lead.capture/make-callback",
        "/lead",
        "/",
        "/webhooks/crm/lead",
        "/analytics/sites",
        "/analytics/forms",
        "/analytics/integrations",
        "/health",
    } <= set(document["paths"])
    # The tracking bodies are the structs the routes decode with: siteKey is required.
    assert "siteKey" in document["components"]["schemas"]["VisitStart"]["required"]
    # schemathesis reads it as a valid OpenAPI document.
    schema = schemathesis.openapi.from_dict(document)
    assert all(result.ok() for result in schema.get_all_operations())


@pytest.fixture(scope="module")
def pulsegate_server(database_url: str) -> Iterator[Served]:
    app_settings = Settings(database_url=database_url, crm_callback_secret=CRM_SECRET)
    key = make_key(app_settings, "fuzz", "admin")
    site_key = make_site(app_settings, "fuzz", "shop.example")
    make_form(
        app_settings, site_key, {"fields": [{"name": "email", "type": "email", "label": "Email"}]}
    )
    with live_server(app_settings) as base_url:
        yield Served(base_url, key, site_key)
    empty_tables(database_url)


@pytest.mark.slow
def test_pulsegate_api_conforms(pulsegate_server: Served) -> None:
    base_url = pulsegate_server.base_url
    # An admin key for the management routes (and in X-API-Key for lead capture, so its
    # submissions are taken whatever siteKey they carry), and a page of the site.
    key = pulsegate_server.key
    headers = {"Authorization": f"Bearer {key}", "X-API-Key": key, "Origin": ORIGIN}
    schema = load(f"{base_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20

    # Cases sure to succeed, so the success answers are checked too; first, before the run
    # below spends the per-IP tracking limits (its 429s are documented answers too).
    site_key = pulsegate_server.site_key
    started = schema["/track/session/start"]["POST"].Case(
        body={"siteKey": site_key, "url": f"{ORIGIN}/"}, media_type=JSON
    )
    visit = started.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS)
    assert visit.status_code == 200, visit.text
    session_id = visit.json()["session_id"]
    cases = [
        schema["/track/event"]["POST"].Case(
            body={"siteKey": site_key, "sessionId": session_id, "type": "click"}, media_type=JSON
        ),
        # What navigator.sendBeacon sends: the same JSON, as text/plain.
        schema["/track/events/batch"]["POST"].Case(
            body=json.dumps(
                {"siteKey": site_key, "sessionId": session_id, "events": [{"type": "scroll"}]}
            ),
            media_type="text/plain",
        ),
        schema["/track/session/end"]["POST"].Case(
            body={"siteKey": site_key, "sessionId": session_id, "durationMs": 1000},
            media_type=JSON,
        ),
        schema["/forms/config"]["GET"].Case(query={"siteKey": site_key, "formId": "enquiry"}),
        *(
            # The deprecated paths answer as /lead.capture does, with the deprecation headers.
            schema[path]["POST"].Case(
                body={"siteKey": site_key, "formId": "enquiry", "email": "ada@example.com"},
                media_type=JSON,
            )
            for path in ("/lead.capture", "/lead", "/")
        ),
        schema["/analytics/sites"]["GET"].Case(),
        schema["/analytics/forms"]["GET"].Case(),
        schema["/analytics/integrations"]["POST"].Case(body={"name": "Backend"}),
        schema["/analytics/integrations"]["GET"].Case(),
        schema["/health"]["GET"].Case(),
    ]
    for case in cases:
        answer = case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS)
        assert answer.status_code in (200, 201), (case.path, answer.text)

    conforms(schema, base_url=base_url, headers=headers, max_examples=20)
