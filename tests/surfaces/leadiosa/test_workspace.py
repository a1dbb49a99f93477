"""/api/v1/workspace: the workspace, its archive status, closing and restoring it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from starlette.testclient import TestClient

from leadline.app import create_app
from leadline.config import Settings
from leadline.kit.time import parse_datetime, utcnow
from tests.fixtures.factories import make_key
from tests.fixtures.leadiosa import TIMESTAMP, bearer, error_of, has_rate_limit_headers
from tests.fixtures.workspaces import set_closed

RETENTION_DAYS = 14
HOOK = "http://127.0.0.1:9/hook"


@pytest.fixture
def app(settings: Settings) -> Iterator[TestClient]:
    """The API of an instance that keeps closed workspaces 14 days (and lets webhooks go to
    this machine)."""
    configured = Settings(
        database_url=settings.database_url,
        workspace_retention_days=RETENTION_DAYS,
        webhooks_allow_private=True,
    )
    with TestClient(create_app(configured)) as client:
        yield client


def test_any_key_reads_its_workspace(settings: Settings, app: TestClient) -> None:
    for role in ("admin", "integration", "marketing"):
        answer = app.get("/api/v1/workspace", headers=bearer(make_key(settings, "acme", role)))
        assert answer.status_code == 200, answer.text
        found = answer.json()["data"]
        assert set(found) == {"id", "name", "status", "created_at"}
        assert found["id"].startswith("ws_")
        assert (found["name"], found["status"]) == ("acme", "active")
        assert TIMESTAMP.match(found["created_at"])


def test_an_active_workspace_has_nothing_to_restore(settings: Settings, app: TestClient) -> None:
    owner = bearer(make_key(settings))
    status = app.get("/api/v1/workspace/archive-status", headers=owner)
    assert status.json() == {"data": {"status": "active", "restorable": False}}
    error_of(app.post("/api/v1/workspace/restore", headers=owner), 409, "workspace_not_closed")


def test_closing_keeps_the_data_for_the_retention_period(
    settings: Settings, app: TestClient
) -> None:
    owner = bearer(make_key(settings))
    before = utcnow()
    answer = app.post("/api/v1/workspace/close", headers=owner)
    assert answer.status_code == 200, answer.text
    closed = answer.json()["data"]
    assert set(closed) == {"status", "closed_at", "purge_after", "days_left", "restorable"}
    assert (closed["status"], closed["days_left"], closed["restorable"]) == (
        "closed",
        RETENTION_DAYS,
        True,
    )
    closed_at = parse_datetime(closed["closed_at"])
    assert before - timedelta(milliseconds=1) <= closed_at <= utcnow()
    assert parse_datetime(closed["purge_after"]) - closed_at == timedelta(days=RETENTION_DAYS)
    assert app.get("/api/v1/workspace/archive-status", headers=owner).json()["data"] == closed
    assert app.get("/api/v1/workspace", headers=owner).json()["data"]["status"] == "closed"

    again = app.post("/api/v1/workspace/close", headers=owner)
    error_of(again, 409, "workspace_closed")
    assert has_rate_limit_headers(again)


def test_only_the_owner_closes_and_restores(settings: Settings, app: TestClient) -> None:
    for role in ("integration", "marketing"):
        key = bearer(make_key(settings, "acme", role))
        error = error_of(app.post("/api/v1/workspace/close", headers=key), 403, "forbidden")
        assert "workspace:lifecycle" in error["message"]
    owner = bearer(make_key(settings))
    assert app.get("/api/v1/workspace", headers=owner).json()["data"]["status"] == "active"
    assert app.post("/api/v1/workspace/close", headers=owner).status_code == 200
    for role in ("integration", "marketing"):
        key = bearer(make_key(settings, "acme", role))
        error_of(app.post("/api/v1/workspace/restore", headers=key), 403, "forbidden")
    status = app.get("/api/v1/workspace/archive-status", headers=owner).json()["data"]
    assert status["status"] == "closed"


def test_restoring_reopens_the_workspace_for_writes(settings: Settings, app: TestClient) -> None:
    owner = bearer(make_key(settings))
    app.post("/api/v1/workspace/close", headers=owner)
    endpoint = {"url": HOOK}
    error_of(app.post("/api/v1/webhooks", json=endpoint, headers=owner), 409, "workspace_closed")

    restored = app.post("/api/v1/workspace/restore", headers=owner)
    assert restored.status_code == 200, restored.text
    assert restored.json() == {"data": {"status": "active", "restorable": False}}
    assert has_rate_limit_headers(restored)
    created = app.post("/api/v1/webhooks", json={"url": HOOK}, headers=owner)
    assert created.status_code == 201, created.text


def test_a_workspace_past_its_period_cannot_be_restored(
    settings: Settings, app: TestClient
) -> None:
    owner = bearer(make_key(settings))
    now = utcnow()
    set_closed(
        settings,
        "acme",
        closed_at=now - timedelta(days=RETENTION_DAYS + 1),
        purge_after=now - timedelta(minutes=1),
    )
    status = app.get("/api/v1/workspace/archive-status", headers=owner).json()["data"]
    assert (status["status"], status["days_left"], status["restorable"]) == ("closed", 0, False)
    error = error_of(
        app.post("/api/v1/workspace/restore", headers=owner), 409, "restore_period_over"
    )
    assert "can no longer be restored" in error["message"]
    assert app.get("/api/v1/workspace", headers=owner).json()["data"]["status"] == "closed"


def test_closing_and_restoring_are_in_the_audit_log(settings: Settings, app: TestClient) -> None:
    key = make_key(settings)
    owner = bearer(key)
    app.post("/api/v1/workspace/close", headers=owner)
    app.post("/api/v1/workspace/restore", headers=owner)
    events = app.get("/api/v1/audit", params={"target": "workspace"}, headers=owner).json()["data"]
    actions = [event["action"] for event in events]
    assert actions[:2] == ["workspace.restored", "workspace.closed"]
    closed = events[1]
    assert closed["actor"]["type"] == "key"
    assert closed["changes"]["status"] == {"before": "active", "after": "closed"}
    assert "after" in closed["changes"]["purge_after"]
    assert closed["request_id"].startswith("req_")


def test_a_closed_workspace_answers_routes_as_before(settings: Settings, app: TestClient) -> None:
    """The refusal is for writes to a route: an unknown path is still a 404, a method a route
    does not take still a 405."""
    owner = bearer(make_key(settings))
    app.post("/api/v1/workspace/close", headers=owner)
    error_of(app.post("/api/v1/nothing-here", headers=owner), 404, "not_found")
    refused = app.delete("/api/v1/workspace", headers=owner)
    error_of(refused, 405, "method_not_allowed")
    assert refused.headers["Allow"] == "GET"
    assert app.get("/api/v1/audit", headers=owner).status_code == 200


def test_closing_one_workspace_leaves_the_others_open(settings: Settings, app: TestClient) -> None:
    app.post("/api/v1/workspace/close", headers=bearer(make_key(settings, "acme")))
    other = bearer(make_key(settings, "other"))
    assert app.get("/api/v1/workspace", headers=other).json()["data"]["status"] == "active"
    created = app.post("/api/v1/webhooks", json={"url": HOOK}, headers=other)
    assert created.status_code == 201, created.text
