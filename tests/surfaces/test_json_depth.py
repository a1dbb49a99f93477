"""Every surface refuses a JSON body nested deeper than the documented maximum with a 400 in
its own envelope, stores nothing of it, and never answers 500 however deep it goes: on every
route that takes a body (or JSON in a query), first, then a few routes' answers exactly."""

from __future__ import annotations

import json

import pytest
from starlette.testclient import TestClient

from leadline.config import Settings
from leadline.kit.jsondepth import MAX_JSON_DEPTH
from tests.fixtures.badinput import BadInput, World, check
from tests.fixtures.factories import fetch_rows, make_site
from tests.fixtures.routes import FREE, OPERATIONS, VALUE, Operation, ids

DEEP = MAX_JSON_DEPTH + 1


def deep(levels: int) -> str:
    return "[" * levels + "]" * levels


# Deeper than the maximum in JSON a route keeps, in place of a value, and in a member of its
# own; past any decoder's recursion anywhere, on the tracker's routes too (docs/api/tracking.md:
# the members they do not know are skipped, never kept, so only there may those nest deeper).
TOO_DEEP = BadInput(
    body={
        FREE: [deep(DEEP).encode(), deep(100_000).encode()],
        VALUE: [deep(DEEP).encode()],
    },
    members=[
        (f'"deep": {deep(DEEP)}'.encode(), False),
        (f'"deep": {deep(100_000)}'.encode(), True),
    ],
)


@pytest.mark.parametrize("operation", OPERATIONS, ids=ids(OPERATIONS))
def test_json_nested_too_deep_is_refused(world: World, operation: Operation) -> None:
    check(world, operation, TOO_DEEP)


@pytest.mark.parametrize("levels", [DEEP, 100_000])
def test_the_octanist_api_refuses_a_deep_body(
    client: TestClient, settings: Settings, admin_key: str, levels: int
) -> None:
    body = f'{{"name": "Ada", "custom": {deep(levels)}}}'
    answer = client.post(
        "/api/leads",
        content=body,
        headers={"X-API-KEY": admin_key, "Content-Type": "application/json"},
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "VALIDATION_ERROR"
    assert "levels deep" in answer.json()["error"]["message"]
    assert fetch_rows(settings, "SELECT id FROM leads") == []


def test_the_octanist_api_takes_the_maximum(client: TestClient, admin_key: str) -> None:
    body = {"name": "Ada", "custom": json.loads(deep(MAX_JSON_DEPTH - 1))}
    answer = client.post("/api/leads", json=body, headers={"X-API-KEY": admin_key})
    assert answer.status_code == 201, answer.text


@pytest.mark.parametrize("levels", [DEEP, 100_000])
def test_the_leadiosa_api_refuses_a_deep_body(
    client: TestClient, admin_key: str, levels: int
) -> None:
    answer = client.post(
        "/api/v1/webhooks",
        content=f'{{"url": "https://example.com/hook", "events": {deep(levels)}}}',
        headers={"Authorization": f"Bearer {admin_key}", "Content-Type": "application/json"},
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "validation_error"


@pytest.mark.parametrize("levels", [DEEP, 100_000])
def test_lead_capture_refuses_a_deep_body(
    client: TestClient, settings: Settings, levels: int
) -> None:
    site = make_site(settings, "acme", "shop.example")
    answer = client.post(
        "/lead.capture",
        content=f'{{"siteKey": "{site}", "EMAIL": "ada@example.com", "x": {deep(levels)}}}',
        headers={"Origin": "https://shop.example", "Content-Type": "application/json"},
    )
    assert answer.status_code == 400
    assert "levels" in answer.json()["error"]
    assert fetch_rows(settings, "SELECT id FROM lead_submissions") == []


def test_tracking_refuses_deep_event_data_and_any_body_too_deep_to_decode(
    client: TestClient, settings: Settings
) -> None:
    """An event's data is free JSON and kept: the maximum holds for it. The rest of a tracking
    body has the tracker's fixed shape (fields it does not know are skipped, never kept), so
    only a body too deep to decode at all is refused for its own depth."""
    site = make_site(settings, "acme", "shop.example")
    page = {"Origin": "https://shop.example"}
    started = client.post(
        "/track/session/start", json={"siteKey": site, "url": "https://shop.example/"}, headers=page
    ).json()
    event = f'{{"siteKey": "{site}", "sessionId": "{started["session_id"]}", "type": "x"'
    for body in (
        f'{event}, "data": {{"d": {deep(MAX_JSON_DEPTH)}}}}}',
        f'{event}, "data": {{"d": {deep(100_000)}}}}}',
        f'{event}, "extra": {deep(100_000)}}}',
    ):
        answer = client.post("/track/event", content=body, headers=page)
        assert answer.status_code == 400, body[:80]
        assert "levels" in answer.json()["error"]
    assert fetch_rows(settings, "SELECT id FROM events") == []
    kept = f'{event}, "data": {{"d": {deep(MAX_JSON_DEPTH - 1)}}}}}'
    assert client.post("/track/event", content=kept, headers=page).status_code == 200
