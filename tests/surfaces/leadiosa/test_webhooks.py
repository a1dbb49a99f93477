"""/api/v1/webhooks: managing endpoints, secrets, test pings and the delivery log."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import standardwebhooks
from starlette.testclient import TestClient

from leadline.app import create_app
from leadline.config import Settings
from tests.fixtures.factories import make_key
from tests.fixtures.jobs import run_worker_until
from tests.fixtures.leadiosa import bearer, error_of
from tests.fixtures.receiver import Receiver, receiver


@pytest.fixture
def private(settings: Settings) -> Settings:
    return Settings(
        database_url=settings.database_url, webhooks_allow_private=True, jobs_poll_seconds=0.05
    )


@pytest.fixture
def hooks_api(private: Settings, admin_key: str) -> Iterator[TestClient]:
    """The Leadiosa API of an instance that lets webhooks reach this machine."""
    with TestClient(create_app(private)) as client:
        client.headers.update(bearer(admin_key))
        yield client


@pytest.fixture
def local() -> Iterator[Receiver]:
    with receiver() as running:
        yield running


def create(api: TestClient, **body: Any) -> dict[str, Any]:
    response = api.post("/api/v1/webhooks", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()["data"]
    return created


def test_create_shows_the_secret_once(hooks_api: TestClient, local: Receiver) -> None:
    created = create(hooks_api, url=local.url, events=["lead.created"], description="CRM")
    assert created["secret"].startswith("whsec_")
    assert created["events"] == ["lead.created"]
    assert created["enabled"] is True
    fetched = hooks_api.get(f"/api/v1/webhooks/{created['id']}").json()["data"]
    assert "secret" not in fetched
    assert fetched["description"] == "CRM"
    assert "disabled_reason" not in fetched  # empty fields are omitted
    listed = hooks_api.get("/api/v1/webhooks").json()
    assert [item["id"] for item in listed["data"]] == [created["id"]]
    assert listed["pagination"] == {"has_more": False}


def test_bad_endpoints_are_refused(leadiosa: TestClient, hooks_api: TestClient) -> None:
    error_of(
        leadiosa.post("/api/v1/webhooks", json={"url": "https://127.0.0.1/hooks"}),
        400,
        "unsafe_webhook_target",
    )
    error_of(
        leadiosa.post("/api/v1/webhooks", json={"url": "http://example.com/hooks"}),
        400,
        "unsafe_webhook_target",
    )
    for api in (leadiosa, hooks_api):  # refused whether private targets are allowed or not
        smuggled = error_of(
            api.post("/api/v1/webhooks", json={"url": "https://example.com/a\r\nX-Injected: 1"}),
            400,
            "unsafe_webhook_target",
        )
        assert smuggled["message"] == (
            "url must not contain control characters or spaces (found U+000D at position 21)"
        )
    bad_event = error_of(
        hooks_api.post(
            "/api/v1/webhooks", json={"url": "http://127.0.0.1/x", "events": ["lead.deleted"]}
        ),
        400,
        "validation_error",
    )
    assert "lead.deleted" in bad_event["message"]
    error_of(hooks_api.post("/api/v1/webhooks", json={}), 400, "validation_error")
    error_of(
        hooks_api.post("/api/v1/webhooks", json={"url": "http://127.0.0.1/x", "secret": "x"}),
        400,
        "validation_error",
    )


def test_update_rotate_and_delete(hooks_api: TestClient, local: Receiver) -> None:
    created = create(hooks_api, url=local.url)
    path = f"/api/v1/webhooks/{created['id']}"
    paused = hooks_api.post(path, json={"enabled": False, "events": ["lead.status_changed"]})
    assert paused.status_code == 200, paused.text
    assert (paused.json()["data"]["enabled"], paused.json()["data"]["events"]) == (
        False,
        ["lead.status_changed"],
    )
    rotated = hooks_api.post(f"{path}/rotate-secret").json()["data"]
    assert rotated["secret"].startswith("whsec_")
    assert rotated["secret"] != created["secret"]
    deleted = hooks_api.delete(path)
    assert deleted.json()["data"] == {"id": created["id"], "deleted": True}
    error_of(hooks_api.get(path), 404, "webhook_not_found")
    error_of(hooks_api.delete(path), 404, "webhook_not_found")


def test_test_ping_and_delivery_log(
    hooks_api: TestClient, private: Settings, local: Receiver
) -> None:
    created = create(hooks_api, url=local.url, events=["lead.created"])
    queued = hooks_api.post(f"/api/v1/webhooks/{created['id']}/test")
    assert queued.status_code == 202, queued.text
    delivery = queued.json()["data"]
    assert (delivery["event_type"], delivery["state"], delivery["attempts"]) == (
        "webhook.test",
        "pending",
        0,
    )
    log_path = f"/api/v1/webhooks/{created['id']}/deliveries"

    def delivered() -> bool:
        items = hooks_api.get(log_path).json()["data"]
        return bool(items) and items[0]["state"] == "delivered"

    run_worker_until(private, delivered)
    (logged,) = hooks_api.get(log_path).json()["data"]
    assert logged["id"] == delivery["id"]
    assert logged["last_status"] == 200
    (attempt,) = logged["history"]
    assert (attempt["number"], attempt["status"], attempt["response_excerpt"]) == (1, 200, "ok")
    event = standardwebhooks.Webhook(created["secret"]).verify(
        local.received[0].body, local.received[0].headers
    )
    assert event["type"] == "webhook.test"

    again = hooks_api.post(f"{log_path}/{delivery['id']}/redeliver")
    assert again.status_code == 202, again.text
    assert again.json()["data"]["state"] == "pending"
    error_of(hooks_api.post(f"{log_path}/{delivery['id']}/redeliver"), 409, "conflict")
    run_worker_until(private, delivered)
    assert len(local.received) == 2
    assert local.received[1].headers["webhook-id"] == local.received[0].headers["webhook-id"]
    error_of(hooks_api.post(f"{log_path}/whd_nope/redeliver"), 404, "delivery_not_found")


def test_event_types_are_listed(leadiosa: TestClient) -> None:
    types = [item["type"] for item in leadiosa.get("/api/v1/webhooks/event-types").json()["data"]]
    assert {"lead.created", "lead.updated", "lead.status_changed"} <= set(types)


def test_webhooks_are_admin_only_and_workspace_bound(
    hooks_api: TestClient, client: TestClient, settings: Settings, local: Receiver
) -> None:
    created = create(hooks_api, url=local.url)
    marketing = make_key(settings, "acme", "marketing")
    error_of(client.get("/api/v1/webhooks", headers=bearer(marketing)), 403, "forbidden")
    other = make_key(settings, "other", "admin")
    theirs = client.get(f"/api/v1/webhooks/{created['id']}", headers=bearer(other))
    error_of(theirs, 404, "webhook_not_found")
    assert client.get("/api/v1/webhooks", headers=bearer(other)).json()["data"] == []
    error_of(
        client.delete(f"/api/v1/webhooks/{created['id']}", headers=bearer(other)),
        404,
        "webhook_not_found",
    )
    assert hooks_api.get(f"/api/v1/webhooks/{created['id']}").status_code == 200
