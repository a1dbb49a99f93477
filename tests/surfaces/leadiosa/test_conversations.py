"""/api/v1/conversations: starting them, statuses, assignment, messages, notes, events."""

from __future__ import annotations

import json
import random
from datetime import timedelta
from typing import Any

import pytest
from starlette.testclient import TestClient

from leadline.app import create_app
from leadline.config import Settings
from leadline.inbox.repository import FEW_CHANGED
from leadline.kit.time import iso_millis, utcnow
from tests.fixtures.factories import execute_sql, fetch_rows, make_key, set_workspace
from tests.fixtures.inbox import insert_conversations, make_person, messages, patch, start
from tests.fixtures.leadiosa import TIMESTAMP, bearer, error_of
from tests.fixtures.people import make_person as add_person

FUTURE = "2099-01-01T00:00:00.000Z"
STATUSES = ("open", "snoozed", "closed", "spam")
ALLOWED = {
    ("open", "snoozed"),
    ("open", "closed"),
    ("open", "spam"),
    ("snoozed", "open"),
    ("snoozed", "closed"),
    ("closed", "open"),
    ("spam", "open"),
}
REFUSED = sorted(
    (before, after)
    for before in STATUSES
    for after in STATUSES
    if before != after and (before, after) not in ALLOWED
)


@pytest.fixture
def hooked(settings: Settings, admin_key: str) -> None:
    """An endpoint of ``acme`` subscribed to every event, so events are written."""
    private = Settings(database_url=settings.database_url, webhooks_allow_private=True)
    with TestClient(create_app(private)) as client:
        answer = client.post(
            "/api/v1/webhooks", json={"url": "http://127.0.0.1:9/hook"}, headers=bearer(admin_key)
        )
        assert answer.status_code == 201, answer.text


def events(settings: Settings, *types: str) -> list[dict[str, Any]]:
    """The webhook events written, oldest first (of ``types``, if given): their bodies."""
    rows = fetch_rows(settings, "SELECT type, body FROM webhook_events ORDER BY created_at, id")
    return [json.loads(row["body"]) for row in rows if not types or row["type"] in types]


def in_status(api: TestClient, status: str, **contact: Any) -> dict[str, Any]:
    """A conversation brought to ``status`` as a client would."""
    conversation = start(api, contact=contact or {"name": "Ada"})
    if status == "snoozed":
        conversation = patch(api, conversation["id"], status="snoozed", snoozed_until=FUTURE)
        conversation = conversation.json()["data"]
    elif status != "open":
        conversation = patch(api, conversation["id"], status=status).json()["data"]
    assert conversation["status"] == status
    return conversation


# ------------------------------------------------------------------------------ starting


def test_a_new_conversation_with_a_new_contact(leadiosa: TestClient, settings: Settings) -> None:
    created = start(
        leadiosa,
        contact={"email": "Ada@Example.COM", "name": "Ada Lovelace", "phone": "+31 6 12345678"},
        text="Do you ship to Norway?",
        subject="Shipping",
    )
    assert created["id"].startswith("conv_")
    assert created["status"] == "open"
    assert created["subject"] == "Shipping"
    assert created["message_count"] == 1
    assert created["waiting_since"] == created["created_at"] == created["last_activity_at"]
    for name in ("created_at", "updated_at", "last_activity_at"):
        assert TIMESTAMP.match(created[name])
    # Empty fields are left out: nobody online, so nobody assigned.
    assert not {"assignee_id", "first_reply_at", "tags", "snoozed_until"} & set(created)
    (first,) = messages(leadiosa, created["id"])
    assert first["id"].startswith("msg_")
    assert (first["seq"], first["author"], first["text"]) == (
        1,
        "contact",
        "Do you ship to Norway?",
    )
    assert first["quarantined"] is False
    contact = leadiosa.get(f"/api/v1/contacts/{created['contact_id']}").json()["data"]
    assert contact["id"].startswith("ct_")
    assert (contact["email"], contact["phone"], contact["name"]) == (
        "ada@example.com",
        "+31612345678",
        "Ada Lovelace",
    )
    fetched = leadiosa.get(f"/api/v1/conversations/{created['id']}")
    assert fetched.json()["data"] == created


def test_the_contact_is_found_by_id_email_or_phone(leadiosa: TestClient) -> None:
    first = start(leadiosa, contact={"email": "ada@example.com", "phone": "+31612345678"})
    contact_id = first["contact_id"]
    by_email = start(leadiosa, contact={"email": "ADA@example.com", "name": "Ada"})
    by_phone = start(leadiosa, contact={"phone": "+31 6 1234 5678"})
    by_id = start(leadiosa, contact={"id": contact_id})
    assert {by_email["contact_id"], by_phone["contact_id"], by_id["contact_id"]} == {contact_id}
    # What a found contact lacked, it gains; what it had, it keeps.
    contact = leadiosa.get(f"/api/v1/contacts/{contact_id}").json()["data"]
    assert contact["name"] == "Ada"
    other = start(leadiosa, contact={"email": "grace@example.com"})
    assert other["contact_id"] != contact_id
    listed = leadiosa.get("/api/v1/conversations", params={"contact_id": contact_id}).json()
    assert {item["id"] for item in listed["data"]} == {
        first["id"],
        by_email["id"],
        by_phone["id"],
        by_id["id"],
    }


def test_bad_conversations_are_refused(leadiosa: TestClient, settings: Settings) -> None:
    def post(body: dict[str, Any]) -> Any:
        return leadiosa.post("/api/v1/conversations", json=body)

    text = {"text": "hi"}
    error_of(post({"contact": {"id": "ct_nope"}, "message": text}), 404, "contact_not_found")
    error_of(
        post({"contact": {"id": "ct_x", "email": "a@example.com"}, "message": text}),
        400,
        "validation_error",
    )
    error_of(post({"contact": {}, "message": text}), 400, "validation_error")
    error_of(post({"contact": {"email": "not an email"}, "message": text}), 400, "validation_error")
    error_of(post({"contact": {"phone": "call me"}, "message": text}), 400, "validation_error")
    error_of(post({"contact": {"name": "Ada"}, "message": {"text": ""}}), 400, "validation_error")
    error_of(post({"contact": {"name": "Ada"}, "message": {"text": "  "}}), 400, "validation_error")
    error_of(post({"contact": {"name": "Ada"}}), 400, "validation_error")
    error_of(
        post({"contact": {"name": "Ada"}, "message": text, "priority": "high"}),
        400,
        "validation_error",
    )
    assert fetch_rows(settings, "SELECT id FROM conversations") == []
    assert fetch_rows(settings, "SELECT id FROM contacts") == []


# ------------------------------------------------------------------------------ statuses


@pytest.mark.parametrize(("before", "after"), sorted(ALLOWED))
def test_allowed_transitions(leadiosa: TestClient, before: str, after: str) -> None:
    conversation = in_status(leadiosa, before)
    body: dict[str, Any] = {"status": after}
    if after == "snoozed":
        body["snoozed_until"] = FUTURE
    changed = patch(leadiosa, conversation["id"], **body)
    assert changed.status_code == 200, changed.text
    assert changed.json()["data"]["status"] == after
    if after == "snoozed":
        assert changed.json()["data"]["snoozed_until"] == FUTURE
    else:
        assert "snoozed_until" not in changed.json()["data"]


@pytest.mark.parametrize(("before", "after"), REFUSED)
def test_refused_transitions(leadiosa: TestClient, before: str, after: str) -> None:
    conversation = in_status(leadiosa, before)
    body: dict[str, Any] = {"status": after}
    if after == "snoozed":
        body["snoozed_until"] = FUTURE
    error = error_of(patch(leadiosa, conversation["id"], **body), 422, "invalid_transition")
    assert before in error["message"]
    assert after in error["message"]
    fetched = leadiosa.get(f"/api/v1/conversations/{conversation['id']}").json()["data"]
    assert fetched == conversation


def test_the_same_status_again_changes_nothing(leadiosa: TestClient) -> None:
    conversation = in_status(leadiosa, "closed")
    again = patch(leadiosa, conversation["id"], status="closed")
    assert again.status_code == 200
    assert again.json()["data"] == conversation


def test_snoozing_needs_a_time_to_come(leadiosa: TestClient) -> None:
    conversation = start(leadiosa)
    path_id = conversation["id"]
    for body in (
        {"status": "snoozed"},
        {"status": "snoozed", "snoozed_until": None},
        {"status": "snoozed", "snoozed_until": "2020-01-01T00:00:00Z"},
        {"status": "snoozed", "snoozed_until": "tomorrow"},
        {"snoozed_until": FUTURE},  # not snoozed: a time alone is no snooze
        {"status": "closed", "snoozed_until": FUTURE},
    ):
        error = error_of(patch(leadiosa, path_id, **body), 400, "validation_error")
        assert "snoozed_until" in error["message"]
    snoozed = patch(leadiosa, path_id, status="snoozed", snoozed_until="2099-01-01").json()["data"]
    assert snoozed["snoozed_until"] == FUTURE
    later = patch(leadiosa, path_id, snoozed_until="2099-02-01T10:00:00+01:00").json()["data"]
    assert (later["status"], later["snoozed_until"]) == ("snoozed", "2099-02-01T09:00:00.000Z")
    error_of(patch(leadiosa, path_id, snoozed_until="2001-01-01"), 400, "validation_error")


def test_status_changes_and_assignments_are_audited(
    leadiosa: TestClient, settings: Settings
) -> None:
    ada = make_person(settings, "ada@team.example")
    conversation = start(leadiosa)
    patch(leadiosa, conversation["id"], assignee_id=ada.id)
    patch(leadiosa, conversation["id"], status="closed")
    # A person's token is named as that person.
    assert patch(leadiosa, conversation["id"], status="open").status_code == 200
    reopened = leadiosa.patch(
        f"/api/v1/conversations/{conversation['id']}", json={"status": "spam"}, headers=ada.headers
    )
    assert reopened.status_code == 200, reopened.text
    log = leadiosa.get(
        "/api/v1/audit", params={"target": f"conversation:{conversation['id']}"}
    ).json()["data"]
    found = [(event["action"], event["actor"]["type"], event["changes"]) for event in reversed(log)]
    assert [(action, actor) for action, actor, _ in found] == [
        ("conversation.created", "key"),
        ("conversation.assigned", "key"),
        ("conversation.status_changed", "key"),
        ("conversation.status_changed", "key"),
        ("conversation.status_changed", "user"),
    ]
    assert found[1][2] == {"assignee_id": {"after": ada.id}}
    assert found[2][2] == {"status": {"before": "open", "after": "closed"}}
    assert log[0]["actor"]["id"] == ada.id
    assert all(TIMESTAMP.match(event["occurred_at"]) for event in log)


# ---------------------------------------------------------------------------- assignment


def test_assigning_and_unassigning(leadiosa: TestClient, settings: Settings) -> None:
    ada = make_person(settings, "ada@team.example")
    conversation = start(leadiosa)
    assigned = patch(leadiosa, conversation["id"], assignee_id=ada.id).json()["data"]
    assert assigned["assignee_id"] == ada.id
    assert TIMESTAMP.match(assigned["assigned_at"])
    mine = leadiosa.get("/api/v1/conversations", params={"assignee_id": ada.id}).json()["data"]
    assert [item["id"] for item in mine] == [conversation["id"]]
    error_of(patch(leadiosa, conversation["id"], assignee_id="per_nope"), 404, "person_not_found")
    outsider = make_person(settings, "eve@other.example", workspace="other")
    error_of(patch(leadiosa, conversation["id"], assignee_id=outsider.id), 404, "person_not_found")
    # A marketing person is no operator: conversations are not theirs.
    marketer = add_person(settings, "acme", "mo@team.example", role="marketing")
    error_of(patch(leadiosa, conversation["id"], assignee_id=marketer), 404, "person_not_found")
    unassigned = patch(leadiosa, conversation["id"], assignee_id=None).json()["data"]
    assert not {"assignee_id", "assigned_at"} & set(unassigned)
    nobody = leadiosa.get("/api/v1/conversations", params={"assignee_id": "none"}).json()["data"]
    assert [item["id"] for item in nobody] == [conversation["id"]]


def test_a_closed_conversation_is_not_assigned(leadiosa: TestClient, settings: Settings) -> None:
    ada = make_person(settings, "ada@team.example")
    conversation = in_status(leadiosa, "closed")
    error = error_of(
        patch(leadiosa, conversation["id"], assignee_id=ada.id), 409, "conversation_closed"
    )
    assert "reopen" in error["message"]
    # Closing and assigning at once is the same refusal; reopening and assigning is not.
    error_of(
        patch(leadiosa, start(leadiosa)["id"], status="closed", assignee_id=ada.id),
        409,
        "conversation_closed",
    )
    reopened = patch(leadiosa, conversation["id"], status="open", assignee_id=ada.id)
    assert (reopened.json()["data"]["status"], reopened.json()["data"]["assignee_id"]) == (
        "open",
        ada.id,
    )


def test_new_conversations_go_round_robin_to_people_online(
    leadiosa: TestClient, settings: Settings
) -> None:
    ada = make_person(settings, "ada@team.example", availability="online")
    bob = make_person(settings, "bob@team.example", availability="online")
    make_person(settings, "cy@team.example", availability="away")
    dee = make_person(settings, "dee@team.example", availability="online")
    assignees = [start(leadiosa)["assignee_id"] for _ in range(6)]
    assert assignees == [ada.id, bob.id, dee.id] * 2
    set_workspace(settings, "acme", auto_assign=False)
    assert "assignee_id" not in start(leadiosa)


# ------------------------------------------------------------------------------ messages


def test_who_wrote_a_message(leadiosa: TestClient, settings: Settings) -> None:
    ada = make_person(settings, "ada@team.example")
    conversation = start(leadiosa)
    path = f"/api/v1/conversations/{conversation['id']}/messages"
    by_key = leadiosa.post(path, json={"text": "From the admin key"})
    by_person = leadiosa.post(path, json={"text": "From Ada"}, headers=ada.headers)
    by_ai = leadiosa.post(path, json={"text": "From the assistant", "author": "ai"})
    by_contact = leadiosa.post(
        path, json={"text": "Thanks!", "author": "contact"}, headers=ada.headers
    )
    for answer in (by_key, by_person, by_ai, by_contact):
        assert answer.status_code == 201, answer.text
    listed = messages(leadiosa, conversation["id"])
    assert [(m["seq"], m["author"], m.get("person_id")) for m in listed] == [
        (1, "contact", None),
        (2, "operator", None),
        (3, "operator", ada.id),
        (4, "ai", None),
        (5, "contact", None),
    ]
    assert listed[2] == by_person.json()["data"]
    error_of(leadiosa.post(path, json={"text": "x", "author": "robot"}), 400, "validation_error")
    for text in ("", " \n ", "x" * 10_001):
        error_of(leadiosa.post(path, json={"text": text}), 400, "validation_error")
    assert leadiosa.post(path, json={"text": "x" * 10_000}).status_code == 201
    error_of(
        leadiosa.post("/api/v1/conversations/conv_nope/messages", json={"text": "x"}),
        404,
        "conversation_not_found",
    )


def test_first_reply_and_waiting(leadiosa: TestClient) -> None:
    conversation = start(leadiosa)
    path = f"/api/v1/conversations/{conversation['id']}"

    def post(text: str, author: str) -> dict[str, Any]:
        answer = leadiosa.post(f"{path}/messages", json={"text": text, "author": author})
        assert answer.status_code == 201, answer.text
        return leadiosa.get(path).json()["data"]

    waiting_since = conversation["waiting_since"]
    after_more = post("Anyone there?", "contact")
    assert after_more["waiting_since"] == waiting_since  # still waiting since the first
    after_ai = post("An assistant's answer", "ai")
    assert after_ai["first_reply_at"] == after_ai["last_activity_at"]
    assert after_ai["waiting_since"] == waiting_since  # the AI does not end a wait for people
    after_operator = post("A person's answer", "operator")
    assert "waiting_since" not in after_operator
    assert after_operator["first_reply_at"] == after_ai["first_reply_at"]
    after_contact = post("Thanks, one more thing", "contact")
    assert after_contact["waiting_since"] == after_contact["last_activity_at"]
    assert after_contact["message_count"] == 5


@pytest.mark.parametrize("status", ["closed", "snoozed"])
def test_a_contact_message_reopens(
    leadiosa: TestClient, settings: Settings, hooked: None, status: str
) -> None:
    conversation = in_status(leadiosa, status)
    posted = leadiosa.post(
        f"/api/v1/conversations/{conversation['id']}/messages",
        json={"text": "Me again", "author": "contact"},
    )
    assert posted.status_code == 201
    reopened = leadiosa.get(f"/api/v1/conversations/{conversation['id']}").json()["data"]
    assert reopened["status"] == "open"
    assert "snoozed_until" not in reopened
    (event,) = events(settings, "conversation.reopened")
    assert event["data"] == {
        "conversation_id": conversation["id"],
        "contact_id": conversation["contact_id"],
        "previous_status": status,
        "reason": "message",
        "reopened_at": posted.json()["data"]["created_at"],
    }
    # An operator's message reopens nothing.
    patch(leadiosa, conversation["id"], status="closed")
    leadiosa.post(f"/api/v1/conversations/{conversation['id']}/messages", json={"text": "Bye"})
    assert (
        leadiosa.get(f"/api/v1/conversations/{conversation['id']}").json()["data"]["status"]
        == "closed"
    )


def test_a_spam_contact_is_quarantined(
    leadiosa: TestClient, settings: Settings, hooked: None
) -> None:
    conversation = start(leadiosa, contact={"email": "spam@example.com"})
    spam = patch(leadiosa, conversation["id"], status="spam").json()["data"]
    contact_path = f"/api/v1/contacts/{conversation['contact_id']}"
    assert leadiosa.get(contact_path).json()["data"]["spam"] is True
    path = f"/api/v1/conversations/{conversation['id']}"
    posted = leadiosa.post(f"{path}/messages", json={"text": "Buy now", "author": "contact"})
    assert posted.json()["data"]["quarantined"] is True
    after = leadiosa.get(path).json()["data"]
    assert after["status"] == "spam"
    assert after["last_activity_at"] == spam["last_activity_at"]  # no activity, no wait
    assert after["message_count"] == 2
    # The spam contact's next conversation starts as spam, nobody assigned, unannounced.
    make_person(settings, "ada@team.example", availability="online")
    again = start(leadiosa, contact={"email": "spam@example.com"}, text="Cheap pills")
    assert again["status"] == "spam"
    assert "assignee_id" not in again
    (first,) = messages(leadiosa, again["id"])
    assert first["quarantined"] is True
    listed = messages(leadiosa, conversation["id"])
    assert [m["quarantined"] for m in listed] == [False, True]
    texts = [event["data"].get("text") for event in events(settings, "message.created")]
    assert "Buy now" not in texts
    assert "Cheap pills" not in texts
    assert len(events(settings, "conversation.created")) == 1
    # Opening it again says the contact is no spammer: their messages count again.
    assert patch(leadiosa, conversation["id"], status="open").status_code == 200
    assert leadiosa.get(contact_path).json()["data"]["spam"] is False
    posted = leadiosa.post(f"{path}/messages", json={"text": "Sorry", "author": "contact"})
    assert posted.json()["data"]["quarantined"] is False


def test_an_idempotent_message(leadiosa: TestClient, settings: Settings) -> None:
    conversation = start(leadiosa)
    path = f"/api/v1/conversations/{conversation['id']}/messages"
    key = {"Idempotency-Key": "reply-1"}
    first = leadiosa.post(path, json={"text": "Hello"}, headers=key)
    retry = leadiosa.post(path, json={"text": "Hello"}, headers=key)
    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json()
    assert len(messages(leadiosa, conversation["id"])) == 2
    error_of(leadiosa.post(path, json={"text": "Other"}, headers=key), 409, "conflict")
    error_of(
        leadiosa.post(path, json={"text": "x"}, headers={"Idempotency-Key": " "}),
        400,
        "validation_error",
    )
    unkeyed = [leadiosa.post(path, json={"text": "Hello"}) for _ in range(2)]
    assert unkeyed[0].json()["data"]["id"] != unkeyed[1].json()["data"]["id"]
    rows = fetch_rows(settings, "SELECT seq FROM messages ORDER BY seq")
    assert [row["seq"] for row in rows] == [1, 2, 3, 4]


def test_messages_are_paged_in_order(leadiosa: TestClient) -> None:
    conversation = start(leadiosa, text="message 0")
    path = f"/api/v1/conversations/{conversation['id']}/messages"
    for n in range(1, 12):
        leadiosa.post(path, json={"text": f"message {n}"})
    seen: list[str] = []
    after = None
    for _ in range(4):
        params: dict[str, Any] = {"limit": 5}
        if after:
            params["after"] = after
        answer = leadiosa.get(path, params=params).json()
        seen += [item["text"] for item in answer["data"]]
        after = answer["pagination"].get("next_cursor")
        if not answer["pagination"]["has_more"]:
            assert after is None
            break
        # A message added meanwhile comes at the end, never twice.
        if len(seen) == 5:
            leadiosa.post(path, json={"text": "message 12"})
    assert seen == [f"message {n}" for n in range(13)]
    error_of(leadiosa.get(path, params={"after": "cur_bad"}), 400, "invalid_cursor")


# ---------------------------------------------------------------------------------- lists


def test_conversations_are_listed_newest_activity_first(
    leadiosa: TestClient, settings: Settings
) -> None:
    ada = make_person(settings, "ada@team.example")
    made = [start(leadiosa, contact={"name": f"n{n}"}) for n in range(7)]
    # A message moves a conversation to the top.
    leadiosa.post(f"/api/v1/conversations/{made[2]['id']}/messages", json={"text": "bump"})
    expected = [made[2]["id"], *(item["id"] for item in reversed(made) if item is not made[2])]
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 3}
    while True:
        answer = leadiosa.get("/api/v1/conversations", params=params).json()
        seen += [item["id"] for item in answer["data"]]
        if not answer["pagination"]["has_more"]:
            break
        params["after"] = answer["pagination"]["next_cursor"]
    assert seen == expected
    patch(leadiosa, made[0]["id"], status="closed")
    patch(leadiosa, made[1]["id"], assignee_id=ada.id)

    def listed(**params: Any) -> list[str]:
        answer = leadiosa.get("/api/v1/conversations", params=params)
        assert answer.status_code == 200, answer.text
        return [item["id"] for item in answer.json()["data"]]

    assert listed(status="closed") == [made[0]["id"]]
    assert listed(status="open", limit=100) == [i for i in expected if i != made[0]["id"]]
    assert listed(assignee_id=ada.id) == [made[1]["id"]]
    assert listed(contact_id=made[3]["contact_id"]) == [made[3]["id"]]
    changed = leadiosa.get(f"/api/v1/conversations/{made[1]['id']}").json()["data"]
    assert listed(updated_after=changed["updated_at"]) == []
    assert set(listed(updated_after="2000-01-01")) == set(expected)
    assert listed(status="closed", assignee_id=ada.id) == []
    error_of(leadiosa.get("/api/v1/conversations?status=pending"), 400, "validation_error")
    error_of(leadiosa.get("/api/v1/conversations?updated_after=soon"), 400, "validation_error")
    error_of(leadiosa.get("/api/v1/conversations?after=cur_x"), 400, "invalid_cursor")


# ---------------------------------------------------------------------------------- notes


def test_notes_are_for_operators(leadiosa: TestClient, settings: Settings) -> None:
    ada = make_person(settings, "ada@team.example")
    make_person(settings, "bob@team.example")
    conversation = start(leadiosa)
    path = f"/api/v1/conversations/{conversation['id']}/notes"
    by_key = leadiosa.post(path, json={"text": "Asked @Bob@team.example and @nobody@else.example"})
    assert by_key.status_code == 201, by_key.text
    note = by_key.json()["data"]
    assert note["id"].startswith("note_")
    assert note["mentions"] == ["bob@team.example"]
    assert note["key_id"].startswith("key_")
    assert "person_id" not in note
    by_ada = leadiosa.post(
        path, json={"text": "No mentions (ada@team.example)"}, headers=ada.headers
    )
    assert by_ada.json()["data"]["person_id"] == ada.id
    assert not {"key_id", "mentions"} & set(by_ada.json()["data"])
    first = leadiosa.get(path, params={"limit": 1}).json()
    assert [item["id"] for item in first["data"]] == [note["id"]]
    rest = leadiosa.get(path, params={"after": first["pagination"]["next_cursor"]}).json()
    assert [item["id"] for item in rest["data"]] == [by_ada.json()["data"]["id"]]
    assert rest["pagination"] == {"has_more": False}
    # Notes are no messages: not listed with them, not announced, not counted.
    assert [m["author"] for m in messages(leadiosa, conversation["id"])] == ["contact"]
    assert (
        leadiosa.get(f"/api/v1/conversations/{conversation['id']}").json()["data"]["message_count"]
        == 1
    )
    error_of(leadiosa.post(path, json={"text": ""}), 400, "validation_error")
    error_of(leadiosa.get("/api/v1/conversations/conv_nope/notes"), 404, "conversation_not_found")


# ------------------------------------------------------------------------------ who may


def test_roles(client: TestClient, settings: Settings, admin_key: str) -> None:
    conversation = start_with(client, admin_key)
    agent = make_person(settings, "agent@team.example", role="agent")
    assert client.get("/api/v1/conversations", headers=agent.headers).status_code == 200
    for role in ("marketing", "integration"):
        key = bearer(make_key(settings, "acme", role))
        error_of(client.get("/api/v1/conversations", headers=key), 403, "forbidden")
        error_of(
            client.post(
                f"/api/v1/conversations/{conversation['id']}/messages",
                json={"text": "x"},
                headers=key,
            ),
            403,
            "forbidden",
        )


def start_with(client: TestClient, key: str) -> dict[str, Any]:
    answer = client.post(
        "/api/v1/conversations",
        json={"contact": {"name": "Ada"}, "message": {"text": "hi"}},
        headers=bearer(key),
    )
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()["data"]
    return created


def test_another_workspace_sees_nothing(
    client: TestClient, settings: Settings, admin_key: str
) -> None:
    conversation = start_with(client, admin_key)
    other = bearer(make_key(settings, "other", "admin"))
    path = f"/api/v1/conversations/{conversation['id']}"
    for method, url, body in (
        ("GET", path, None),
        ("PATCH", path, {"status": "closed"}),
        ("GET", f"{path}/messages", None),
        ("POST", f"{path}/messages", {"text": "hijack"}),
        ("GET", f"{path}/notes", None),
        ("POST", f"{path}/notes", {"text": "hijack"}),
    ):
        answer = client.request(method, url, json=body, headers=other)
        error_of(answer, 404, "conversation_not_found")
    contact = f"/api/v1/contacts/{conversation['contact_id']}"
    error_of(client.get(contact, headers=other), 404, "contact_not_found")
    error_of(client.patch(contact, json={"name": "x"}, headers=other), 404, "contact_not_found")
    theirs = start_with(client, make_key(settings, "other", "admin"))
    error_of(
        client.post(
            f"{contact}/merge", json={"into": theirs["contact_id"]}, headers=bearer(admin_key)
        ),
        404,
        "contact_not_found",
    )
    # Nor does naming another workspace's contact start a conversation with them.
    answer = client.post(
        "/api/v1/conversations",
        json={"contact": {"id": conversation["contact_id"]}, "message": {"text": "x"}},
        headers=other,
    )
    error_of(answer, 404, "contact_not_found")
    assert client.get("/api/v1/conversations", headers=other).json()["data"] == [theirs]
    assert len(client.get("/api/v1/contacts", headers=other).json()["data"]) == 1
    mine = client.get(path, headers=bearer(admin_key)).json()["data"]
    assert mine == conversation


# -------------------------------------------------------------------------------- events


def test_webhook_events(leadiosa: TestClient, settings: Settings, hooked: None) -> None:
    ada = make_person(settings, "ada@team.example", availability="online")
    conversation = start(
        leadiosa, contact={"email": "ada@example.com", "name": "Ada"}, subject="Hi"
    )
    reply = leadiosa.post(
        f"/api/v1/conversations/{conversation['id']}/messages", json={"text": "Hello Ada"}
    ).json()["data"]
    patch(leadiosa, conversation["id"], status="closed")
    patch(leadiosa, conversation["id"], status="open")
    written = [
        (event["type"], event["data"])
        for event in events(settings)
        if event["type"] != "lead.created"
    ]
    ids = {"conversation_id": conversation["id"], "contact_id": conversation["contact_id"]}
    created_at = conversation["created_at"]
    assert [kind for kind, _ in written] == [
        "contact.created",
        "conversation.created",
        "conversation.assigned",
        "message.created",
        "message.created",
        "conversation.resolved",
        "conversation.reopened",
    ]
    contact = written[0][1]
    assert contact == {
        "contact_id": conversation["contact_id"],
        "name": "Ada",
        "email": "ada@example.com",
        "created_at": contact["created_at"],
    }
    assert written[1][1] == {**ids, "status": "open", "subject": "Hi", "created_at": created_at}
    assert written[2][1] == {
        **ids,
        "assignee_id": ada.id,
        "previous_assignee_id": None,
        "assigned_at": created_at,
    }
    (first,) = [m for m in messages(leadiosa, conversation["id"]) if m["seq"] == 1]
    assert written[3][1] == {
        "conversation_id": conversation["id"],
        "message_id": first["id"],
        "from": "contact",
        "text": first["text"],
        "created_at": first["created_at"],
    }
    assert written[4][1]["from"] == "operator"
    assert written[4][1]["message_id"] == reply["id"]
    assert written[5][1]["previous_status"] == "open"
    assert written[6][1]["reason"] == "manual"
    # Each event is one the endpoints may subscribe to.
    types = {t["type"] for t in leadiosa.get("/api/v1/webhooks/event-types").json()["data"]}
    assert {kind for kind, _ in written} <= types


def test_nothing_is_stored_for_a_refused_request(leadiosa: TestClient, settings: Settings) -> None:
    conversation = start(leadiosa)
    before = fetch_rows(settings, "SELECT * FROM conversations")
    error_of(
        patch(leadiosa, conversation["id"], subject="New subject", status="snoozed"),
        400,
        "validation_error",
    )
    assert fetch_rows(settings, "SELECT * FROM conversations") == before
    execute_sql(settings, "UPDATE conversations SET status = 'closed'")
    error_of(
        patch(leadiosa, conversation["id"], tags=["vip"], assignee_id="per_x"),
        409,
        "conversation_closed",
    )
    assert json.loads(fetch_rows(settings, "SELECT tags FROM conversations")[0]["tags"]) == []


def test_changed_since_lists_the_same_however_many_changed(
    leadiosa: TestClient, settings: Settings
) -> None:
    """A few changed conversations are sorted by themselves, many are found walking the
    activity order (leadline.inbox.repository.FEW_CHANGED): the pages are the same either way."""
    contact_id = start(leadiosa)["contact_id"]
    workspace_id = fetch_rows(settings, "SELECT id FROM workspaces WHERE slug = 'acme'")[0]["id"]
    rng = random.Random(3)
    base = utcnow() - timedelta(days=30)
    rows = []
    for n in range(FEW_CHANGED + 100):
        activity = base + timedelta(minutes=rng.randint(0, 40_000))
        rows.append(
            {
                "id": f"conv_bulk{n:05d}",
                "workspace_id": workspace_id,
                "contact_id": contact_id,
                "status": rng.choice(["open", "closed"]),
                "tags": "[]",
                "message_count": 1,
                "last_activity_at": activity,
                "created_at": activity,
                # Some changed long after their last message (closed in bulk, say).
                "updated_at": activity + timedelta(minutes=rng.choice([0, 0, 5, 20_000])),
            }
        )
    insert_conversations(settings, rows)

    def pages(**params: Any) -> list[str]:
        seen: list[str] = []
        query: dict[str, Any] = {"limit": 100, **params}
        while True:
            answer = leadiosa.get("/api/v1/conversations", params=query)
            assert answer.status_code == 200, answer.text
            # The conversation that made the contact is no part of it.
            seen += [item["id"] for item in answer.json()["data"] if "bulk" in item["id"]]
            if not answer.json()["pagination"]["has_more"]:
                return seen
            query["after"] = answer.json()["pagination"]["next_cursor"]

    ordered = sorted(rows, key=lambda row: (row["last_activity_at"], row["id"]), reverse=True)
    by_change = sorted(row["updated_at"] for row in rows)
    for since in (by_change[10], by_change[len(rows) - FEW_CHANGED + 10], by_change[-20]):
        cut = since.replace(microsecond=since.microsecond // 1000 * 1000)
        expected = [
            row["id"] for row in ordered if row["updated_at"] >= cut + timedelta(milliseconds=1)
        ]
        assert pages(updated_after=iso_millis(since)) == expected
        opened = [
            row["id"]
            for row in ordered
            if row["updated_at"] >= cut + timedelta(milliseconds=1) and row["status"] == "open"
        ]
        assert pages(updated_after=iso_millis(since), status="open") == opened
