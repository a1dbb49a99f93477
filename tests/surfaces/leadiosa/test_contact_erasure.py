"""DELETE /api/v1/contacts/{id}: GDPR erasure of an inbox contact and of every lead,
submission and visit that carries their email or phone; the receipt; the tombstone."""

from __future__ import annotations

import json
from typing import Any

from starlette.testclient import TestClient

from leadline.config import Settings
from tests.fixtures.factories import fetch_rows, make_key, make_webhook_endpoint, set_workspace
from tests.fixtures.leadiosa import TIMESTAMP, bearer, error_of

ADA = {"email": "ada@example.com", "name": "Ada Lovelace", "phone": "+44 20 7946 0000"}


def start(
    client: TestClient, contact: dict[str, Any], subject: str = "Ada's flat"
) -> dict[str, Any]:
    answer = client.post(
        "/api/v1/conversations",
        json={"contact": contact, "message": {"text": "Hello"}, "subject": subject},
    )
    assert answer.status_code == 201, answer.text
    found: dict[str, Any] = answer.json()["data"]
    return found


def _traces(settings: Settings, *needles: str) -> list[str]:
    """Every table and row that still holds one of ``needles``."""
    found = []
    tables = ("contacts", "conversations", "messages", "notes", "leads", "lead_submissions")
    for table in (*tables, "erasures", "tombstones", "audit_events"):
        for row in fetch_rows(settings, f"SELECT * FROM {table}"):
            text = json.dumps(row, default=str).lower()
            found.extend(f"{table}: {needle}" for needle in needles if needle.lower() in text)
    return found


def test_erasing_a_contact_removes_them_everywhere(
    leadiosa: TestClient, settings: Settings, admin_key: str
) -> None:
    make_webhook_endpoint(settings, admin_key, ["contact.erased"])
    conversation = start(leadiosa, ADA)
    contact_id = conversation["contact_id"]
    leadiosa.post(f"/api/v1/conversations/{conversation['id']}/messages", json={"text": "Hi Ada!"})
    leadiosa.post(f"/api/v1/conversations/{conversation['id']}/notes", json={"text": "Ada: VIP"})
    # The same person through the lead API, and someone else.
    octanist = {"X-API-KEY": admin_key}
    leadiosa.post("/api/leads", json={"name": "Ada", "email": "ADA@example.com"}, headers=octanist)
    grace = start(leadiosa, {"email": "grace@example.com", "name": "Grace"}, "Compilers")

    answer = leadiosa.delete(f"/api/v1/contacts/{contact_id}")

    assert answer.status_code == 200, answer.text
    receipt = answer.json()["data"]
    assert receipt["id"].startswith("era_")
    assert receipt["contact_id"] == contact_id
    assert TIMESTAMP.match(receipt["erased_at"])
    assert receipt["erased_by"] == {"type": "key", "id": receipt["erased_by"]["id"]}
    assert receipt["matched"]["email"] == "a***@example.com"
    assert receipt["counts"]["contacts"] == 1
    assert receipt["counts"]["messages"] == 2
    assert receipt["counts"]["notes"] == 1
    assert receipt["counts"]["leads"] == 2
    assert len(receipt["receipt_hash"]) == 64
    assert leadiosa.get(f"/api/v1/contacts/erasures/{receipt['id']}").json()["data"] == receipt
    error_of(leadiosa.get(f"/api/v1/contacts/{contact_id}"), 404, "contact_not_found")
    error_of(leadiosa.delete(f"/api/v1/contacts/{contact_id}"), 404, "contact_not_found")
    listed = leadiosa.get("/api/v1/contacts").json()["data"]
    assert [c["id"] for c in listed] == [grace["contact_id"]]
    thread = leadiosa.get(f"/api/v1/conversations/{conversation['id']}/messages").json()["data"]
    assert {m["text"] for m in thread} == {"[erased]"}
    # The phone as written and as normalised; a bare "7946" also turns up by chance in hashes
    # and in timestamps' microseconds.
    needles = ("ada@example.com", "Lovelace", "20 7946 0000", "2079460000", "Ada's flat")
    assert _traces(settings, *needles) == []
    remaining = leadiosa.get("/api/leads", headers=octanist).json()["data"]
    assert [lead["email"] for lead in remaining] == ["grace@example.com"]
    (event,) = fetch_rows(settings, "SELECT body FROM webhook_events WHERE type = 'contact.erased'")
    sent = json.loads(event["body"])["data"]
    assert (sent["contact_id"], sent["erasure_id"]) == (contact_id, receipt["id"])


def test_a_returning_erased_person_is_refused_when_the_workspace_says_so(
    leadiosa: TestClient, settings: Settings
) -> None:
    contact_id = start(leadiosa, ADA)["contact_id"]
    assert leadiosa.delete(f"/api/v1/contacts/{contact_id}").status_code == 200
    again = start(leadiosa, {"email": "ada@example.com"})
    assert again["contact_id"] != contact_id
    set_workspace(settings, "acme", erased_returns="refuse")
    refused = leadiosa.post(
        "/api/v1/conversations",
        json={"contact": {"phone": "+442079460000"}, "message": {"text": "Hello again"}},
    )
    error_of(refused, 409, "erased_person")


def test_another_workspace_cannot_erase_or_read_a_receipt(
    leadiosa: TestClient, settings: Settings
) -> None:
    contact_id = start(leadiosa, ADA)["contact_id"]
    other = bearer(make_key(settings, "globex", "admin"))
    error_of(
        leadiosa.delete(f"/api/v1/contacts/{contact_id}", headers=other), 404, "contact_not_found"
    )
    receipt = leadiosa.delete(f"/api/v1/contacts/{contact_id}").json()["data"]
    error_of(
        leadiosa.get(f"/api/v1/contacts/erasures/{receipt['id']}", headers=other),
        404,
        "erasure_not_found",
    )
    error_of(leadiosa.get("/api/v1/contacts/erasures/era_nope"), 404, "erasure_not_found")


def test_integration_keys_may_not_erase(leadiosa: TestClient, settings: Settings) -> None:
    contact_id = start(leadiosa, ADA)["contact_id"]
    integration = bearer(make_key(settings, "acme", "integration"))
    error_of(
        leadiosa.delete(f"/api/v1/contacts/{contact_id}", headers=integration), 403, "forbidden"
    )
