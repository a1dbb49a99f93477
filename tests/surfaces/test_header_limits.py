"""Every surface bounds a request's headers, their total size and their number, and answers
431 in its own envelope beyond them, writing nothing: on every route that takes a body or a
query, first, then a few routes (and the scripts) exactly."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from leadline.config import Settings
from leadline.http import MAX_HEADER_BYTES, MAX_HEADERS
from tests.fixtures.badinput import BadInput, World, check
from tests.fixtures.factories import fetch_rows, make_site
from tests.fixtures.routes import OPERATIONS, Operation, ids

BIG = {"X-Padding": "a" * (MAX_HEADER_BYTES + 1)}
MANY = {f"X-H{i}": "1" for i in range(MAX_HEADERS + 1)}


@pytest.mark.parametrize("operation", OPERATIONS, ids=ids(OPERATIONS))
def test_oversize_headers_are_refused(world: World, operation: Operation) -> None:
    check(world, operation, BadInput(headers=[BIG, MANY]))


@pytest.mark.parametrize("extra", [BIG, MANY], ids=["big", "many"])
def test_the_octanist_api_answers_431(
    client: TestClient, settings: Settings, admin_key: str, extra: dict[str, str]
) -> None:
    answer = client.post(
        "/api/leads", json={"name": "Ada"}, headers={"X-API-KEY": admin_key, **extra}
    )
    assert answer.status_code == 431
    assert answer.json()["success"] is False
    assert fetch_rows(settings, "SELECT id FROM leads") == []
    assert client.get("/api/leads", headers={"X-API-KEY": admin_key, **extra}).status_code == 431


@pytest.mark.parametrize("extra", [BIG, MANY], ids=["big", "many"])
def test_the_leadiosa_api_answers_431(
    client: TestClient, admin_key: str, extra: dict[str, str]
) -> None:
    answer = client.get(
        "/api/v1/webhooks", headers={"Authorization": f"Bearer {admin_key}", **extra}
    )
    assert answer.status_code == 431
    assert answer.json()["error"]["code"] == "request_header_fields_too_large"


@pytest.mark.parametrize("extra", [BIG, MANY], ids=["big", "many"])
def test_pulsegate_routes_answer_431(
    client: TestClient, settings: Settings, extra: dict[str, str]
) -> None:
    site = make_site(settings, "acme", "shop.example")
    page = {"Origin": "https://shop.example", **extra}
    for method, path, body in (
        ("POST", "/track/session/start", {"siteKey": site, "url": "https://shop.example/"}),
        ("POST", "/lead.capture", {"siteKey": site, "EMAIL": "ada@example.com"}),
        ("GET", "/tracker.js", None),
        ("GET", "/health", None),
    ):
        answer = client.request(method, path, json=body, headers=page)
        assert answer.status_code == 431, path
        assert "headers" in answer.json()["error"]
    assert fetch_rows(settings, "SELECT id FROM visits") == []


def test_headers_within_the_bounds_pass(client: TestClient, admin_key: str) -> None:
    padding = {"X-Padding": "a" * (MAX_HEADER_BYTES // 2)}
    answer = client.get("/api/leads", headers={"X-API-KEY": admin_key, **padding})
    assert answer.status_code == 200
