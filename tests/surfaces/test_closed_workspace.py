"""A closed workspace refuses every write on every surface with 409 in the surface's own
envelope, writes nothing, and answers every read; another workspace is not touched; restoring
it opens it again at once."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from starlette.testclient import TestClient

from leadline.config import Settings
from tests.fixtures.database import stored_rows
from tests.fixtures.leadiosa import bearer, error_of
from tests.fixtures.workspaces import CRM_SECRET, Filled, app_client, fill


@dataclass(frozen=True)
class World:
    client: TestClient
    closed: Filled
    open: Filled


@pytest.fixture
def world(settings: Settings) -> Iterator[World]:
    with app_client(settings) as client:
        closed, other = fill(client, settings, "acme"), fill(client, settings, "other")
        answer = client.post("/api/v1/workspace/close", headers=bearer(closed.admin_key))
        assert answer.status_code == 200, answer.text
        yield World(client, closed, other)


def _writes(ws: Filled, site_id: str) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(surface, method, path, request) of one write of every kind, by the workspace's keys
    (or from a page of its site, or from its CRM)."""
    octanist = {"X-API-KEY": ws.admin_key}
    admin = bearer(ws.admin_key)
    crm = bearer(CRM_SECRET)
    spend = {
        "date": "2026-02-01",
        "platform": "googleads",
        "campaignId": "c2",
        "spend": 1,
        "currency": "EUR",
    }
    track = {"siteKey": ws.site_key, "sessionId": ws.visit_id}
    return [
        ("octanist", "POST", "/api/leads", {"json": {"name": "New"}, "headers": octanist}),
        (
            "octanist",
            "POST",
            "/api/leads",
            {"json": {"name": "New"}, "headers": {**octanist, "Idempotency-Key": "k-1"}},
        ),
        (
            "octanist",
            "POST",
            "/api/leads",
            {"json": {"name": "New"}, "headers": {"X-API-KEY": ws.integration_key}},
        ),
        (
            "octanist",
            "PATCH",
            "/api/leads",
            {"json": {"id": ws.lead_id, "status": "won"}, "headers": octanist},
        ),
        (
            "octanist",
            "POST",
            "/api/ad-spend/import",
            {"json": {"rows": [spend]}, "headers": octanist},
        ),
        (
            "octanist",
            "POST",
            "/api/leads/import",
            {
                "files": {"file": ("leads.csv", b"Email\nnew@example.com\n", "text/csv")},
                "headers": octanist,
            },
        ),
        (
            "octanist",
            "POST",
            f"/api/integrations/incoming/wp/{ws.site_key}/",
            {"json": {"email": f"wp@{ws.host}"}, "headers": ws.page},
        ),
        (
            "leadiosa",
            "POST",
            "/api/v1/webhooks",
            {"json": {"url": "http://127.0.0.1:9/other"}, "headers": admin},
        ),
        ("leadiosa", "POST", "/api/v1/jobs/replay", {"json": {}, "headers": admin}),
        ("leadiosa", "POST", "/api/v1/workspace/close", {"headers": admin}),
        (
            "pulsegate",
            "POST",
            "/analytics/sites",
            {"json": {"name": "New", "domains": ["new.example"]}, "headers": admin},
        ),
        (
            "pulsegate",
            "PATCH",
            f"/analytics/sites/{site_id}",
            {"json": {"name": "Renamed"}, "headers": admin},
        ),
        ("pulsegate", "DELETE", f"/analytics/sites/{site_id}", {"headers": admin}),
        ("pulsegate", "POST", "/analytics/integrations", {"json": {}, "headers": admin}),
        (
            "pulsegate",
            "POST",
            "/lead.capture",
            {
                "json": {"EMAIL": f"key@{ws.host}", "siteKey": ws.site_key},
                "headers": {"X-API-Key": ws.integration_key},
            },
        ),
        (
            "pulsegate",
            "POST",
            "/lead.capture",
            {
                "json": {"siteKey": ws.site_key, "formId": "enquiry", "EMAIL": f"p@{ws.host}"},
                "headers": ws.page,
            },
        ),
        (
            "pulsegate",
            "POST",
            "/track/session/start",
            {"json": {"siteKey": ws.site_key, "url": f"https://{ws.host}/"}, "headers": ws.page},
        ),
        (
            "pulsegate",
            "POST",
            "/track/event",
            {"json": {**track, "type": "click", "id": "c9"}, "headers": ws.page},
        ),
        (
            "pulsegate",
            "POST",
            "/track/events/batch",
            {"json": {**track, "events": [{"type": "page_view", "id": "p9"}]}, "headers": ws.page},
        ),
        (
            "pulsegate",
            "POST",
            "/track/session/end",
            {"json": {**track, "durationMs": 1000}, "headers": ws.page},
        ),
        (
            "pulsegate",
            "POST",
            "/lead.capture/crm-callback",
            {"json": {"submission_id": ws.submission_id, "crm_lead_id": "crm-9"}, "headers": crm},
        ),
        (
            "pulsegate",
            "POST",
            "/webhooks/crm/lead",
            {"json": {"crm_lead_id": f"crm-{ws.slug}"}, "headers": crm},
        ),
    ]


def _reads(ws: Filled) -> list[tuple[str, str, dict[str, Any]]]:
    octanist = {"X-API-KEY": ws.admin_key}
    admin = bearer(ws.admin_key)
    month = {"startDate": "2026-01-01", "endDate": "2026-01-31"}
    return [
        ("GET", "/api/check", {"headers": octanist}),
        ("POST", "/api/check", {"headers": octanist}),
        ("GET", "/api/leads", {"headers": octanist}),
        ("GET", f"/api/leads/{ws.lead_id}", {"headers": octanist}),
        ("POST", "/api/stats", {"json": {}, "headers": octanist}),
        ("GET", "/api/ad-spend", {"params": month, "headers": octanist}),
        ("POST", "/api/ad-spend", {"json": month, "headers": octanist}),
        ("GET", "/api/v1/workspace", {"headers": admin}),
        ("GET", "/api/v1/workspace/archive-status", {"headers": admin}),
        ("GET", "/api/v1/audit", {"headers": admin}),
        ("GET", "/api/v1/webhooks", {"headers": admin}),
        ("GET", "/api/v1/jobs", {"headers": admin}),
        ("GET", "/api/v1/billing/subscription", {"headers": admin}),
        ("GET", "/analytics/sites", {"headers": admin}),
        ("GET", "/analytics/forms", {"headers": admin}),
        (
            "GET",
            "/forms/config",
            {"params": {"siteKey": ws.site_key, "formId": "enquiry"}, "headers": ws.page},
        ),
    ]


def _refused_in_its_envelope(surface: str, answer: Any) -> None:
    assert answer.status_code == 409, answer.text
    body = answer.json()
    if surface == "leadiosa":
        error_of(answer, 409, "workspace_closed")
    elif surface == "octanist":
        assert body["success"] is False
        assert body["error"]["code"] == "WORKSPACE_CLOSED"
    else:
        assert set(body) == {"error"}
        assert "closed" in body["error"]


def test_every_write_is_refused_and_nothing_is_written(settings: Settings, world: World) -> None:
    ws = world.closed
    admin = bearer(ws.admin_key)
    site_id = world.client.get("/analytics/sites", headers=admin).json()["sites"][0]["id"]
    before = stored_rows(settings.database_url)
    for surface, method, path, request in _writes(ws, site_id):
        answer = world.client.request(method, path, **request)
        try:
            _refused_in_its_envelope(surface, answer)
        except AssertionError as exc:
            raise AssertionError(f"{method} {path}: {exc}") from None
    assert stored_rows(settings.database_url) == before


def test_every_read_is_answered(world: World) -> None:
    for method, path, request in _reads(world.closed):
        answer = world.client.request(method, path, **request)
        assert answer.status_code == 200, f"{method} {path}: {answer.text}"


def test_the_other_workspace_still_writes(world: World) -> None:
    other = world.open
    site_id = world.client.get("/analytics/sites", headers=bearer(other.admin_key)).json()["sites"][
        0
    ]["id"]
    for _, method, path, request in _writes(other, site_id):
        if path in ("/api/v1/workspace/close", f"/analytics/sites/{site_id}"):
            continue  # closing it, or deleting its site, would stop what follows
        answer = world.client.request(method, path, **request)
        assert answer.status_code in (200, 201), f"{method} {path}: {answer.text}"


def test_restoring_opens_every_surface_again_at_once(world: World) -> None:
    ws = world.closed
    start = {"json": {"siteKey": ws.site_key, "url": f"https://{ws.host}/"}, "headers": ws.page}
    lead = {"json": {"name": "Back"}, "headers": {"X-API-KEY": ws.admin_key}}
    assert world.client.post("/track/session/start", **start).status_code == 409
    assert world.client.post("/api/leads", **lead).status_code == 409

    restored = world.client.post("/api/v1/workspace/restore", headers=bearer(ws.admin_key))
    assert restored.status_code == 200, restored.text

    # The key's principal and the site, both held in memory, were read again.
    assert world.client.post("/track/session/start", **start).status_code == 200
    assert world.client.post("/api/leads", **lead).status_code == 201
