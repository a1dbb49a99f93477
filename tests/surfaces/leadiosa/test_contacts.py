"""/api/v1/contacts: search, changes, merging, and the lead a contact becomes."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from leadline.config import Settings
from leadline.surfaces.octanist.schemas import LEAD_FIELDS, LeadOut
from tests.fixtures.factories import fetch_rows, make_visit
from tests.fixtures.inbox import messages, start
from tests.fixtures.leadiosa import error_of


def contact_of(api: TestClient, contact_id: str) -> dict[str, Any]:
    answer = api.get(f"/api/v1/contacts/{contact_id}")
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()["data"]
    return found


def change(api: TestClient, contact_id: str, **body: Any) -> Any:
    return api.patch(f"/api/v1/contacts/{contact_id}", json=body)


def leads(api: TestClient, admin_key: str) -> list[dict[str, Any]]:
    answer = api.get("/api/leads", headers={"X-API-KEY": admin_key})
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()["data"]
    return found


# -------------------------------------------------------------------------------- lists


def test_search_and_pages(leadiosa: TestClient) -> None:
    ada = start(leadiosa, contact={"name": "Ada Lovelace", "email": "ada@example.com"})
    grace = start(leadiosa, contact={"name": "Grace Hopper", "phone": "+31 20 123 4567"})
    linus = start(leadiosa, contact={"name": "Linus 50%_off"})

    def found(**params: Any) -> list[str]:
        answer = leadiosa.get("/api/v1/contacts", params=params)
        assert answer.status_code == 200, answer.text
        return [item["id"] for item in answer.json()["data"]]

    assert found() == [linus["contact_id"], grace["contact_id"], ada["contact_id"]]
    assert found(q="LOVE") == [ada["contact_id"]]
    assert found(q="@EXAMPLE.com") == [ada["contact_id"]]
    assert found(q="+3120") == [grace["contact_id"]]
    assert found(q="50%_") == [linus["contact_id"]]  # LIKE's wildcards are plain text here
    assert found(q="%") == [linus["contact_id"]]
    assert found(q="nobody") == []
    assert found(q="") == found()
    newest = contact_of(leadiosa, linus["contact_id"])
    assert found(updated_after=newest["updated_at"]) == []
    assert found(updated_after="2000-01-01") == found()
    first = leadiosa.get("/api/v1/contacts", params={"limit": 2}).json()
    assert [item["id"] for item in first["data"]] == found()[:2]
    rest = leadiosa.get(
        "/api/v1/contacts", params={"limit": 2, "after": first["pagination"]["next_cursor"]}
    ).json()
    assert [item["id"] for item in rest["data"]] == [ada["contact_id"]]
    assert rest["pagination"] == {"has_more": False}
    error_of(leadiosa.get("/api/v1/contacts?after=cur_zz"), 400, "invalid_cursor")
    error_of(leadiosa.get("/api/v1/contacts?updated_after=later"), 400, "validation_error")
    error_of(leadiosa.get("/api/v1/contacts/ct_nope"), 404, "contact_not_found")


# ------------------------------------------------------------------------------ changes


def test_changing_a_contact(leadiosa: TestClient) -> None:
    contact_id = start(leadiosa, contact={"name": "Ada"})["contact_id"]
    changed = change(
        leadiosa,
        contact_id,
        email=" Ada@Example.com ",
        phone="+44 20 7946 0958",
        attributes={"plan": "pro", "seats": 5, "trial": False},
    )
    assert changed.status_code == 200, changed.text
    data = changed.json()["data"]
    assert (data["name"], data["email"], data["phone"]) == (
        "Ada",
        "ada@example.com",
        "+442079460958",
    )
    assert data["attributes"] == {"plan": "pro", "seats": 5, "trial": False}
    # Attributes are merged in; null removes one. Fields left out stay; null clears.
    again = change(leadiosa, contact_id, attributes={"seats": None, "team": "R&D"}, name=None)
    data = again.json()["data"]
    assert data["attributes"] == {"plan": "pro", "trial": False, "team": "R&D"}
    assert "name" not in data
    assert data["email"] == "ada@example.com"
    # A number that is no valid one is kept as given.
    assert change(leadiosa, contact_id, phone="0612 345").json()["data"]["phone"] == "0612 345"


def test_bad_changes_are_refused(leadiosa: TestClient, settings: Settings) -> None:
    contact_id = start(leadiosa, contact={"name": "Ada", "email": "ada@example.com"})["contact_id"]
    other = start(leadiosa, contact={"name": "Grace", "email": "grace@example.com"})["contact_id"]
    before = contact_of(leadiosa, contact_id)
    for body in (
        {"email": "ada at example"},
        {"phone": "ring me"},
        {"name": "x" * 201},
        {"attributes": {"deep": {"no": 1}}},
        {"attributes": {"list": [1]}},
        {"attributes": {f"k{n}": n for n in range(51)}},
        {"attributes": {"k": "x" * 1001}},
        {"attributes": {"": 1}},
        {"attributes": "plan=pro"},
        {"spam": True},
    ):
        error_of(change(leadiosa, contact_id, **body), 400, "validation_error")
    error = error_of(change(leadiosa, contact_id, email="GRACE@example.com"), 409, "conflict")
    assert other in error["message"]
    assert contact_of(leadiosa, contact_id) == before
    error_of(change(leadiosa, "ct_nope", name="x"), 404, "contact_not_found")


# -------------------------------------------------------------------------------- merges


def test_merging_contacts(leadiosa: TestClient, settings: Settings) -> None:
    kept = start(leadiosa, contact={"name": "Ada", "email": "ada@example.com"})
    change(leadiosa, kept["contact_id"], attributes={"plan": "pro"})
    gone = start(leadiosa, contact={"phone": "+31612345678"}, text="From my phone")
    change(
        leadiosa, gone["contact_id"], name="Ada L.", attributes={"plan": "free", "city": "Delft"}
    )
    merged = leadiosa.post(
        f"/api/v1/contacts/{gone['contact_id']}/merge", json={"into": kept["contact_id"]}
    )
    assert merged.status_code == 200, merged.text
    into = merged.json()["data"]
    assert into["id"] == kept["contact_id"]
    # What ``into`` lacked it takes; what it had it keeps.
    assert (into["name"], into["email"], into["phone"]) == (
        "Ada",
        "ada@example.com",
        "+31612345678",
    )
    assert into["attributes"] == {"plan": "pro", "city": "Delft"}
    moved = leadiosa.get("/api/v1/conversations", params={"contact_id": kept["contact_id"]})
    assert {item["id"] for item in moved.json()["data"]} == {kept["id"], gone["id"]}
    assert [m["text"] for m in messages(leadiosa, gone["id"])] == ["From my phone"]
    error_of(leadiosa.get(f"/api/v1/contacts/{gone['contact_id']}"), 404, "contact_not_found")
    listed = [item["id"] for item in leadiosa.get("/api/v1/contacts").json()["data"]]
    assert listed == [kept["contact_id"]]
    # Found by the merged one's phone, the contact is the one that stayed.
    assert start(leadiosa, contact={"phone": "+31 6 12345678"})["contact_id"] == kept["contact_id"]
    log = leadiosa.get(
        "/api/v1/audit",
        params={"target": f"contact:{gone['contact_id']}", "action": "contact.merged"},
    ).json()["data"]
    assert log[0]["changes"] == {"merged_into_id": {"after": kept["contact_id"]}}


def test_refused_merges(leadiosa: TestClient) -> None:
    one = start(leadiosa, contact={"name": "One"})["contact_id"]
    two = start(leadiosa, contact={"name": "Two"})["contact_id"]
    path = f"/api/v1/contacts/{one}/merge"
    error_of(leadiosa.post(path, json={"into": one}), 422, "unprocessable")
    error_of(leadiosa.post(path, json={"into": "ct_nope"}), 404, "contact_not_found")
    error_of(leadiosa.post(path, json={}), 400, "validation_error")
    error_of(
        leadiosa.post("/api/v1/contacts/ct_nope/merge", json={"into": two}),
        404,
        "contact_not_found",
    )
    assert leadiosa.post(path, json={"into": two}).status_code == 200
    # Merged, it is gone: merging it again, or into it, finds nothing.
    error_of(leadiosa.post(path, json={"into": two}), 404, "contact_not_found")
    error_of(
        leadiosa.post(f"/api/v1/contacts/{two}/merge", json={"into": one}),
        404,
        "contact_not_found",
    )


# ------------------------------------------------------------------------------ the lead


def test_a_contact_with_an_email_becomes_a_chat_lead(
    leadiosa: TestClient, settings: Settings, admin_key: str
) -> None:
    visit = make_visit(
        settings, gclid="Cj0-chat", utm_source="google", website="https://shop.example"
    )
    conversation = start(
        leadiosa,
        contact={"name": "Ada", "email": "ada@example.com"},
        visit_id=visit,
    )
    assert conversation["visit_id"] == visit
    contact = contact_of(leadiosa, conversation["contact_id"])
    (lead,) = leads(leadiosa, admin_key)
    assert contact["lead_id"] == lead["id"]
    assert (lead["source"], lead["name"], lead["email"]) == ("chat", "Ada", "ada@example.com")
    assert (lead["gclid"], lead["utm_source"], lead["sessionId"]) == ("Cj0-chat", "google", visit)
    # The Octanist lead, as it always was.
    assert list(lead) == list(LEAD_FIELDS)
    LeadOut.model_validate(lead)
    # The same person again, or a contact who only gives a name, makes no new lead.
    start(leadiosa, contact={"email": "ADA@example.com"})
    nameless = start(leadiosa, contact={"name": "Grace"}, visit_id="no-such-visit")
    assert "visit_id" not in nameless
    assert "lead_id" not in contact_of(leadiosa, nameless["contact_id"])
    assert len(leads(leadiosa, admin_key)) == 1


def test_an_existing_lead_is_linked(
    leadiosa: TestClient, settings: Settings, admin_key: str
) -> None:
    made = leadiosa.post(
        "/api/leads",
        json={"name": "Grace", "email": "Grace@Example.com"},
        headers={"X-API-KEY": admin_key},
    )
    assert made.status_code == 201, made.text
    lead_id = made.json()["data"]["id"]
    conversation = start(leadiosa, contact={"name": "Grace"})
    assert "lead_id" not in contact_of(leadiosa, conversation["contact_id"])
    changed = change(leadiosa, conversation["contact_id"], email="grace@example.com")
    assert changed.json()["data"]["lead_id"] == lead_id
    assert len(leads(leadiosa, admin_key)) == 1


def test_an_email_in_a_message_or_a_phone_makes_a_lead(
    leadiosa: TestClient, settings: Settings, admin_key: str
) -> None:
    visit = make_visit(settings, utm_campaign="spring")
    conversation = start(leadiosa, contact={"name": "Ada"}, visit_id=visit)
    path = f"/api/v1/conversations/{conversation['id']}/messages"
    # An operator's message is not the contact's address.
    leadiosa.post(path, json={"text": "Write to support@shop.example"})
    assert leads(leadiosa, admin_key) == []
    leadiosa.post(path, json={"text": "Sure, it is ada@example.com.", "author": "contact"})
    contact = contact_of(leadiosa, conversation["contact_id"])
    assert contact["email"] == "ada@example.com"
    (lead,) = leads(leadiosa, admin_key)
    assert contact["lead_id"] == lead["id"]
    assert (lead["email"], lead["utm_campaign"], lead["source"]) == (
        "ada@example.com",
        "spring",
        "chat",
    )
    phoned = start(leadiosa, contact={"name": "Grace"})
    change(leadiosa, phoned["contact_id"], phone="+31 6 87654321")
    found = [lead for lead in leads(leadiosa, admin_key) if lead["name"] == "Grace"]
    assert [(lead["phoneE164"], lead["source"]) for lead in found] == [("+31687654321", "chat")]
    assert fetch_rows(settings, "SELECT COUNT(*) AS n FROM leads")[0]["n"] == 2
