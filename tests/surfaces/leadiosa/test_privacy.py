"""POST /api/v1/privacy/erasures, GET /api/v1/privacy/erasures/{id} and
POST /api/v1/privacy/exports: who may, what they answer, what they refuse."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from starlette.testclient import TestClient

from leadline.config import Settings
from leadline.kit.jsonsafe import canonical_json
from tests.fixtures.factories import fetch_rows, make_key
from tests.fixtures.leadiosa import TIMESTAMP, bearer, error_of
from tests.fixtures.people import make_person, make_token

ADA = {"email": "ada@example.com", "name": "Ada Lovelace", "phone": "+44 20 7946 0000"}


def start(client: TestClient, contact: dict[str, Any]) -> dict[str, Any]:
    answer = client.post(
        "/api/v1/conversations", json={"contact": contact, "message": {"text": "Hello"}}
    )
    assert answer.status_code == 201, answer.text
    found: dict[str, Any] = answer.json()["data"]
    return found


def test_an_erasure_by_email_and_phone_answers_its_receipt(
    leadiosa: TestClient, settings: Settings, admin_key: str
) -> None:
    conversation = start(leadiosa, ADA)
    leadiosa.post(
        "/api/leads",
        json={"name": "Ada", "phone": "+442079460000"},
        headers={"X-API-KEY": admin_key},
    )
    grace = start(leadiosa, {"email": "grace@example.com", "name": "Grace Hopper"})

    answer = leadiosa.post(
        "/api/v1/privacy/erasures", json={"email": "ADA@example.com", "phone": "+442079460000"}
    )

    assert answer.status_code == 201, answer.text
    receipt = answer.json()["data"]
    assert receipt["id"].startswith("era_")
    assert "contact_id" not in receipt
    assert TIMESTAMP.match(receipt["erased_at"])
    assert receipt["erased_by"]["type"] == "key"
    assert receipt["matched"] == {"email": "A***@example.com", "phone": "+442*******00"}
    assert receipt["counts"]["contacts"] == 1
    # The contact's own lead (the inbox makes one) and the one from the lead API.
    assert receipt["counts"]["leads"] == 2
    assert receipt["counts"]["messages"] == 1
    # The hash is over the receipt's canonical JSON (docs/privacy.md).
    body = {
        "id": receipt["id"],
        "workspace_id": fetch_rows(settings, "SELECT id FROM workspaces")[0]["id"],
        "erased_at": receipt["erased_at"],
        "actor": {"type": "key", "id": receipt["erased_by"]["id"]},
        "contact_id": None,
        "matched": receipt["matched"],
        "counts": receipt["counts"],
    }
    assert receipt["receipt_hash"] == hashlib.sha256(canonical_json(body).encode()).hexdigest()
    assert leadiosa.get(f"/api/v1/privacy/erasures/{receipt['id']}").json()["data"] == receipt
    # The contacts route's receipts and this one are the same receipts.
    assert leadiosa.get(f"/api/v1/contacts/erasures/{receipt['id']}").json()["data"] == receipt
    error_of(
        leadiosa.get(f"/api/v1/contacts/{conversation['contact_id']}"), 404, "contact_not_found"
    )
    listed = leadiosa.get("/api/v1/contacts").json()["data"]
    assert [c["id"] for c in listed] == [grace["contact_id"]]
    (event,) = fetch_rows(
        settings, "SELECT changes FROM audit_events WHERE action = 'person.erased'"
    )
    assert "ada@example.com" not in event["changes"].lower()
    assert "A***@example.com" in event["changes"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"email": None, "phone": None},
        {"email": ""},
        {"email": "a" * 400},
        {"phone": "1" * 80},
        {"email": "ada@example.com", "extra": 1},
        {"email": 5},
        # What would match everyone inside copied text.
        {"email": "0"},
        {"email": "example.com"},
        {"phone": "12"},
        {"phone": "call me"},
    ],
)
def test_bad_requests_are_refused_and_erase_nothing(
    leadiosa: TestClient, settings: Settings, body: dict[str, Any]
) -> None:
    start(leadiosa, ADA)
    answer = leadiosa.post("/api/v1/privacy/erasures", json=body)
    assert answer.status_code in (400, 422), answer.text
    assert fetch_rows(settings, "SELECT COUNT(*) AS n FROM erasures")[0]["n"] == 0
    assert fetch_rows(settings, "SELECT email FROM contacts")[0]["email"] == "ada@example.com"
    exported = leadiosa.post("/api/v1/privacy/exports", json=body)
    assert exported.status_code in (400, 422), exported.text


def test_an_unknown_format_is_refused(leadiosa: TestClient) -> None:
    answer = leadiosa.post(
        "/api/v1/privacy/exports", json={"email": "ada@example.com", "format": "pdf"}
    )
    assert answer.status_code in (400, 422), answer.text


@pytest.mark.parametrize("role", ["integration", "marketing"])
def test_keys_other_than_admin_may_not_erase_or_export(
    leadiosa: TestClient, settings: Settings, role: str
) -> None:
    start(leadiosa, ADA)
    key = bearer(make_key(settings, "acme", role))
    person = {"email": "ada@example.com"}
    error_of(leadiosa.post("/api/v1/privacy/erasures", json=person, headers=key), 403, "forbidden")
    error_of(leadiosa.post("/api/v1/privacy/exports", json=person, headers=key), 403, "forbidden")
    receipt = leadiosa.post("/api/v1/privacy/erasures", json=person).json()["data"]
    error_of(
        leadiosa.get(f"/api/v1/privacy/erasures/{receipt['id']}", headers=key), 403, "forbidden"
    )


def test_owners_and_admins_may_agents_may_not(leadiosa: TestClient, settings: Settings) -> None:
    make_person(settings, "acme", "owner@example.com", role="owner")
    make_person(settings, "acme", "admin@example.com", role="admin")
    make_person(settings, "acme", "agent@example.com", role="agent")
    owner = bearer(make_token(settings, "acme", "owner@example.com"))
    admin = bearer(make_token(settings, "acme", "admin@example.com"))
    agent = bearer(make_token(settings, "acme", "agent@example.com"))
    person = {"email": "ada@example.com"}
    error_of(
        leadiosa.post("/api/v1/privacy/erasures", json=person, headers=agent), 403, "forbidden"
    )
    error_of(leadiosa.post("/api/v1/privacy/exports", json=person, headers=agent), 403, "forbidden")
    assert leadiosa.post("/api/v1/privacy/exports", json=person, headers=admin).status_code == 200
    made = leadiosa.post("/api/v1/privacy/erasures", json=person, headers=owner)
    assert made.status_code == 201, made.text
    assert made.json()["data"]["erased_by"]["type"] == "user"


def test_another_workspace_reads_no_receipt_and_erases_nothing_here(
    leadiosa: TestClient, settings: Settings
) -> None:
    start(leadiosa, ADA)
    other = bearer(make_key(settings, "globex", "admin"))
    theirs = leadiosa.post(
        "/api/v1/privacy/erasures", json={"email": "ada@example.com"}, headers=other
    )
    assert theirs.status_code == 201, theirs.text
    assert theirs.json()["data"]["counts"]["contacts"] == 0
    assert fetch_rows(settings, "SELECT email FROM contacts")[0]["email"] == "ada@example.com"
    ours = leadiosa.post("/api/v1/privacy/erasures", json={"email": "ada@example.com"})
    error_of(
        leadiosa.get(f"/api/v1/privacy/erasures/{ours.json()['data']['id']}", headers=other),
        404,
        "erasure_not_found",
    )
    error_of(leadiosa.get("/api/v1/privacy/erasures/era_nope"), 404, "erasure_not_found")
    exported = leadiosa.post(
        "/api/v1/privacy/exports", json={"email": "grace@example.com"}, headers=other
    )
    assert all(rows == [] for rows in exported.json()["tables"].values())


def test_an_export_is_one_json_document_or_a_page(leadiosa: TestClient, settings: Settings) -> None:
    conversation = start(leadiosa, ADA)
    leadiosa.post(
        f"/api/v1/conversations/{conversation['id']}/notes", json={"text": "Ada <b>likes</b> tea"}
    )
    start(leadiosa, {"email": "grace@example.com", "name": "Grace Hopper"})

    answer = leadiosa.post("/api/v1/privacy/exports", json={"email": "ada@example.com"})

    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    assert "attachment" in answer.headers["content-disposition"]
    document = json.loads(answer.text)
    assert document["export"]["person"] == {"emails": ["ada@example.com"], "phones": []}
    assert "notes" in document["export"]["notice"].lower()
    assert [c["name"] for c in document["tables"]["contacts"]] == ["Ada Lovelace"]
    assert [n["text"] for n in document["tables"]["notes"]] == ["Ada <b>likes</b> tea"]
    assert "grace" not in answer.text.lower()
    # Nothing was changed, and the export is in the audit log without the person's data.
    assert (
        fetch_rows(settings, "SELECT COUNT(*) AS n FROM contacts WHERE email IS NOT NULL")[0]["n"]
        == 2
    )
    (event,) = fetch_rows(
        settings, "SELECT changes FROM audit_events WHERE action = 'person.exported'"
    )
    assert "ada@example.com" not in event["changes"]
    assert "a***@example.com" in event["changes"]

    page = leadiosa.post(
        "/api/v1/privacy/exports", json={"phone": "+44 20 7946 0000", "format": "html"}
    )
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    assert "<h2>notes</h2>" in page.text
    assert "Ada &lt;b&gt;likes&lt;/b&gt; tea" in page.text
    assert "<b>likes</b>" not in page.text
