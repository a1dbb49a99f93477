"""The Octanist envelope, authentication and the bad-input guarantees."""

from __future__ import annotations

import re

import pytest
from starlette.testclient import TestClient

from leadline.config import Settings
from tests.fixtures.factories import fetch_rows, make_key, run_in_transaction

REQUEST_ID = re.compile(r"^req_[0-9a-f]{12}$")
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def lead_count(settings: Settings) -> int:
    return int(fetch_rows(settings, "SELECT COUNT(*) AS n FROM leads")[0]["n"])


def test_success_envelope_carries_request_id_and_timestamp(api: TestClient) -> None:
    response = api.post("/api/leads", json={"name": "Ada"})
    assert response.status_code == 201
    body = response.json()
    assert body["success"] is True
    assert set(body) == {"success", "data", "meta"}
    assert REQUEST_ID.match(body["meta"]["requestId"])
    assert body["meta"]["requestId"] == response.headers["X-Request-ID"]
    assert TIMESTAMP.match(body["meta"]["timestamp"])
    assert "pagination" not in body["meta"]


def test_error_envelope_shape(client: TestClient) -> None:
    response = client.get("/api/leads")
    assert response.status_code == 401
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == "UNAUTHORIZED"
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    assert body["error"]["details"] == {}
    assert REQUEST_ID.match(body["meta"]["requestId"])
    assert body["meta"]["requestId"] == response.headers["X-Request-ID"]
    assert TIMESTAMP.match(body["meta"]["timestamp"])


def test_check_needs_a_valid_key(client: TestClient, admin_key: str) -> None:
    assert client.post("/api/check").status_code == 401
    bad = client.post("/api/check", headers={"X-API-KEY": "ll_not-a-key"})
    assert bad.status_code == 401
    assert bad.json()["error"]["code"] == "UNAUTHORIZED"
    ok = client.post("/api/check", headers={"X-API-KEY": admin_key})
    assert ok.json() == {"success": True}
    bearer = client.get("/api/check", headers={"Authorization": f"Bearer {admin_key}"})
    assert bearer.json() == {"success": True}


def test_revoked_key_is_refused(client: TestClient, settings: Settings, admin_key: str) -> None:
    from leadline.auth import service as auth
    from leadline.kit.tokens import visible_prefix

    assert client.get("/api/check", headers={"X-API-KEY": admin_key}).status_code == 200
    run_in_transaction(settings, lambda s: auth.revoke_key(s, visible_prefix(admin_key)))
    assert client.get("/api/check", headers={"X-API-KEY": admin_key}).status_code == 401


def test_keys_are_stored_only_as_hashes(settings: Settings, admin_key: str) -> None:
    rows = fetch_rows(settings, "SELECT key_hash, prefix FROM api_keys")
    assert len(rows) == 1
    assert admin_key not in str(rows)
    assert rows[0]["prefix"] == admin_key[:10]
    assert len(rows[0]["key_hash"]) == 64


def test_last_used_is_recorded(client: TestClient, settings: Settings, admin_key: str) -> None:
    assert fetch_rows(settings, "SELECT last_used_at FROM api_keys")[0]["last_used_at"] is None
    client.get("/api/check", headers={"X-API-KEY": admin_key})
    assert fetch_rows(settings, "SELECT last_used_at FROM api_keys")[0]["last_used_at"] is not None


@pytest.mark.parametrize(
    ("content", "headers", "needle"),
    [
        (b'{"name": "Ada"', {"content-type": "application/json"}, "not valid JSON"),
        (b'{"name": "\xff\xfe"}', {"content-type": "application/json"}, ""),
        (b"[1, 2, 3]", {"content-type": "application/json"}, ""),
        (b'"just a string"', {"content-type": "application/json"}, ""),
        (b"", {"content-type": "application/json"}, ""),
        (b'{"name": 12}', {"content-type": "application/json"}, "name"),
        (b'{"email": "not-an-email"}', {"content-type": "application/json"}, "email"),
        (b'{"name": "A", "ad_storage": "maybe"}', {}, "ad_storage"),
        (b'{"name": "A", "value": "lots"}', {}, "value"),
        (b'{"name": "A", "value": 1e300}', {}, "value"),
        (b'{"name": "A", "value": true}', {}, "value"),
        (b'{"name": "' + b"x" * 600 + b'"}', {}, "name"),
        (b'{"phone": "call me maybe"}', {}, "phone"),
        (b'{"name": "A", "website": "https://' + b"w" * 600 + b'.example"}', {}, "website"),
        (b'{"note": "only a note"}', {}, "name, email, phone or custom"),
        (b'{"name": "A", "currency": "euros"}', {}, "currency"),
    ],
)
def test_bad_bodies_are_400_and_write_nothing(
    api: TestClient, settings: Settings, content: bytes, headers: dict[str, str], needle: str
) -> None:
    response = api.post("/api/leads", content=content, headers=headers)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == "VALIDATION_ERROR"
    assert needle in body["error"]["message"]
    assert lead_count(settings) == 0


def test_body_over_one_megabyte_is_refused(api: TestClient, settings: Settings) -> None:
    big = b'{"name": "A", "note": "' + b"x" * (1_048_576 + 10) + b'"}'
    response = api.post("/api/leads", content=big, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    assert "larger than" in response.json()["error"]["message"]

    def chunks() -> object:
        yield b'{"name": "A", "note": "'
        for _ in range(20):
            yield b"y" * 60_000
        yield b'"}'

    streamed = api.post(
        "/api/leads", content=chunks(), headers={"content-type": "application/json"}
    )
    assert streamed.status_code == 413
    assert lead_count(settings) == 0


def test_json_sent_as_form_type_is_still_read(api: TestClient, settings: Settings) -> None:
    response = api.post(
        "/api/leads",
        content=b'{"name": "Curl User", "email": "curl@example.com"}',
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 201
    stored = api.get(f"/api/leads/{response.json()['data']['id']}").json()["data"]
    assert (stored["name"], stored["email"]) == ("Curl User", "curl@example.com")
    assert lead_count(settings) == 1


def test_unknown_route_is_404_in_envelope(api: TestClient) -> None:
    response = api.get("/api/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"


def test_wrong_method_is_405_in_envelope(api: TestClient) -> None:
    response = api.delete("/api/leads")
    assert response.status_code == 405
    assert response.json()["success"] is False


def test_integration_key_cannot_read(client: TestClient, settings: Settings) -> None:
    key = make_key(settings, "acme", "integration")
    client.headers["X-API-KEY"] = key
    created = client.post("/api/leads", json={"name": "Ada"})
    assert created.status_code == 201
    response = client.get("/api/leads")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "FORBIDDEN"
    one = client.get(f"/api/leads/{created.json()['data']['id']}")
    assert (one.status_code, one.json()["error"]["code"]) == (403, "FORBIDDEN")


def test_marketing_key_reads_masked_and_cannot_write(
    api: TestClient, client: TestClient, settings: Settings
) -> None:
    api.post(
        "/api/leads", json={"name": "Ada", "email": "ada@example.com", "phone": "+31612345678"}
    )
    marketing = make_key(settings, "acme", "marketing")
    listed = client.get("/api/leads", headers={"X-API-KEY": marketing})
    assert listed.status_code == 200
    lead = listed.json()["data"][0]
    assert lead["email"] == "a***@example.com"
    assert lead["phone"] == "+316******78"
    assert "12345" not in (lead["phoneE164"] or "")
    refused = client.post("/api/leads", json={"name": "B"}, headers={"X-API-KEY": marketing})
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "FORBIDDEN"
    assert [row["name"] for row in fetch_rows(settings, "SELECT name FROM leads")] == ["Ada"]
    patched = client.patch(
        "/api/leads", json={"id": lead["id"], "status": "won"}, headers={"X-API-KEY": marketing}
    )
    assert patched.status_code == 403
    assert fetch_rows(settings, "SELECT status FROM leads")[0]["status"] == "open"


def test_a_405_allows_every_method_of_the_path(api: TestClient) -> None:
    # /leads is three routes (GET, POST, PATCH); the answer names them all (RFC 9110).
    response = api.request("TRACE", "/api/leads")
    assert response.status_code == 405
    assert response.json()["success"] is False
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "POST", "PATCH"}
