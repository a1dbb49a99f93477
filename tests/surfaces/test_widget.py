"""The chat widget's public endpoints, /widget/v1/{workspace}/... (docs/widget.md): bound to the
workspace's sites' domains, CORS for those origins only, rate-limited per IP, identify with and
without verification, rejoining by id, no notes and no other contact's data, the offline form."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import pytest
from starlette.testclient import TestClient

from leadline.config import Settings
from tests.fixtures.factories import (
    fetch_rows,
    make_key,
    make_site,
    make_visit,
    make_webhook_endpoint,
    set_workspace,
)
from tests.fixtures.inbox import make_person
from tests.fixtures.leadiosa import bearer
from tests.fixtures.people import webhook_events

PAGE = {"Origin": "https://shop.example"}
BASE = "/widget/v1/acme"


@pytest.fixture
def site(settings: Settings) -> str:
    site_key = make_site(settings, "acme", "shop.example", "*.shop.example")
    events = ["contact.identified", "conversation.created"]
    make_webhook_endpoint(settings, make_key(settings, "acme"), events)
    return site_key


@pytest.fixture
def admin(client: TestClient, settings: Settings, site: str) -> dict[str, str]:
    return bearer(make_key(settings, "acme", "admin"))


def chat(client: TestClient, text: str = "Hello", **body: Any) -> dict[str, Any]:
    answer = client.post(f"{BASE}/conversations", json={"text": text, **body}, headers=PAGE)
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()["data"]
    return data


def token(data: dict[str, Any]) -> dict[str, str]:
    return {**PAGE, "X-Widget-Token": data["token"]}


def listed(client: TestClient, data: dict[str, Any], after: int = 0) -> list[dict[str, Any]]:
    answer = client.get(
        f"{BASE}/conversations/{data['conversation_id']}/messages",
        params={"after": str(after)},
        headers=token(data),
    )
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()["data"]["messages"]
    return found


def identity_secret(cli: Any) -> str:
    from leadline.cli import app

    result = cli.invoke(app, ["widget", "secret", "--workspace", "acme"])
    assert result.exit_code == 0, result.output
    return str(result.output.strip())


# ------------------------------------------------------------------------------ the domains


def test_a_page_of_the_workspaces_sites_may_chat(client: TestClient, admin: dict[str, str]) -> None:
    data = chat(client, "Do you ship to Lisbon?")
    assert data["token"].startswith(data["contact_id"] + ".")
    assert data["conversation_id"].startswith("conv_")
    assert data["message"]["from"] == "contact"
    answer = client.get(f"/api/v1/conversations/{data['conversation_id']}/messages", headers=admin)
    assert [m["text"] for m in answer.json()["data"]] == ["Do you ship to Lisbon?"]
    # A subdomain, when the site lists *.shop.example.
    sub = client.post(
        f"{BASE}/conversations",
        json={"text": "Hi"},
        headers={"Origin": "https://www.shop.example"},
    )
    assert sub.status_code == 200, sub.text


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "https://shop.example.evil.example"},
        {"Referer": "https://evil.example/page"},
        {},
    ],
)
def test_other_pages_are_refused(
    client: TestClient, site: str, settings: Settings, headers: dict[str, str]
) -> None:
    answer = client.post(f"{BASE}/conversations", json={"text": "Hi"}, headers=headers)
    assert answer.status_code == 403, answer.text
    error = answer.json()["error"]
    assert error["code"] == "origin_not_allowed"
    assert set(error) == {"code", "message", "request_id"}
    assert "access-control-allow-origin" not in answer.headers
    assert fetch_rows(settings, "SELECT id FROM conversations") == []


def test_another_workspaces_domains_do_not_count(client: TestClient, settings: Settings) -> None:
    make_site(settings, "other", "shop.example")
    make_key(settings, "acme")
    answer = client.post(f"{BASE}/conversations", json={"text": "Hi"}, headers=PAGE)
    assert answer.status_code == 403


def test_unknown_workspace_is_404(client: TestClient, site: str) -> None:
    answer = client.get("/widget/v1/nobody/config", headers=PAGE)
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "not_found"


def test_the_workspace_id_names_it_too(client: TestClient, site: str, settings: Settings) -> None:
    workspace_id = fetch_rows(settings, "SELECT id FROM workspaces WHERE slug = 'acme'")[0]["id"]
    answer = client.get(f"/widget/v1/{workspace_id}/config", headers=PAGE)
    assert answer.status_code == 200, answer.text


# ------------------------------------------------------------------------------ CORS


def test_cors_answers_the_allowed_origin_only(client: TestClient, site: str) -> None:
    preflight = client.options(
        f"{BASE}/conversations",
        headers={
            **PAGE,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, x-widget-token",
        },
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "https://shop.example"
    assert "X-Widget-Token" in preflight.headers["access-control-allow-headers"]
    assert "Origin" in preflight.headers["vary"]
    answer = client.get(f"{BASE}/config", headers=PAGE)
    assert answer.headers["access-control-allow-origin"] == "https://shop.example"
    assert answer.headers["access-control-allow-origin"] != "*"
    refused = client.options(
        f"{BASE}/conversations",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert refused.status_code == 403
    assert "access-control-allow-origin" not in refused.headers


def test_an_event_stream_reconnecting_from_a_page_passes_the_preflight(
    client: TestClient, site: str
) -> None:
    data = chat(client)
    stream = f"{BASE}/conversations/{data['conversation_id']}/stream"
    preflight = client.options(
        stream,
        headers={
            **PAGE,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "last-event-id",
        },
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "https://shop.example"
    assert "Last-Event-ID" in preflight.headers["access-control-allow-headers"]
    refused = client.options(
        stream,
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )
    assert refused.status_code == 403
    assert "access-control-allow-origin" not in refused.headers


# ------------------------------------------------------------------------------ limits


def test_the_per_ip_limit(client: TestClient, site: str) -> None:
    answers = [
        client.post(f"{BASE}/conversations", json={"text": "Hi"}, headers=PAGE).status_code
        for _ in range(11)
    ]
    assert answers[:10] == [200] * 10
    assert answers[10] == 429
    limited = client.post(f"{BASE}/conversations", json={"text": "Hi"}, headers=PAGE)
    assert limited.json()["error"]["code"] == "rate_limited"
    assert int(limited.headers["retry-after"]) >= 1
    # Other routes have limits of their own.
    assert client.get(f"{BASE}/config", headers=PAGE).status_code == 200


# ------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "text"),
        ({"text": ""}, "message.text"),
        ({"text": 5}, "text"),
        ({"text": "Hi", "email": "not an email"}, "email"),
        ({"text": "Hi", "offline": "yes"}, "offline"),
        ({"text": "Hi", "offline": True}, "email"),
        ({"text": "Hi", "colour": "red"}, "colour"),
    ],
)
def test_bad_bodies_are_400(
    client: TestClient, site: str, settings: Settings, body: dict[str, Any], field: str
) -> None:
    answer = client.post(f"{BASE}/conversations", json=body, headers=PAGE)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["code"] == "validation_error"
    assert fetch_rows(settings, "SELECT id FROM conversations") == []


def test_not_json_is_400(client: TestClient, site: str) -> None:
    answer = client.post(
        f"{BASE}/conversations",
        content=b"text=hi",
        headers={**PAGE, "Content-Type": "application/json"},
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "validation_error"


def test_a_forged_token_is_refused(client: TestClient, site: str) -> None:
    data = chat(client)
    contact, _, signature = data["token"].partition(".")
    for forged in (f"{contact}.{signature[:-2]}xx", f"ct_other.{signature}", "garbage"):
        answer = client.get(
            f"{BASE}/conversations/{data['conversation_id']}/messages",
            headers={**PAGE, "X-Widget-Token": forged},
        )
        assert answer.status_code == 403, forged
    missing = client.get(f"{BASE}/conversations/{data['conversation_id']}/messages", headers=PAGE)
    assert missing.status_code == 401


def test_bad_after_is_400(client: TestClient, site: str) -> None:
    data = chat(client)
    for after in ("-1", "x", "1.5"):
        answer = client.get(
            f"{BASE}/conversations/{data['conversation_id']}/messages",
            params={"after": after},
            headers=token(data),
        )
        assert answer.status_code == 400, after


# ------------------------------------------------------------------------------ messages


def test_messages_after_a_seq_and_operator_replies(
    client: TestClient, admin: dict[str, str]
) -> None:
    data = chat(client, "First")
    sent = client.post(
        f"{BASE}/conversations/{data['conversation_id']}/messages",
        json={"text": "Second"},
        headers=token(data),
    )
    assert sent.status_code == 200, sent.text
    assert sent.json()["data"]["message"]["seq"] == 2
    reply = client.post(
        f"/api/v1/conversations/{data['conversation_id']}/messages",
        json={"text": "Hello from us"},
        headers=admin,
    )
    assert reply.status_code == 201, reply.text
    assert [(m["from"], m["text"]) for m in listed(client, data)] == [
        ("contact", "First"),
        ("contact", "Second"),
        ("operator", "Hello from us"),
    ]
    assert [m["text"] for m in listed(client, data, after=2)] == ["Hello from us"]
    assert listed(client, data, after=3) == []


def test_notes_never_reach_the_widget(client: TestClient, admin: dict[str, str]) -> None:
    data = chat(client, "Hi")
    note = client.post(
        f"/api/v1/conversations/{data['conversation_id']}/notes",
        json={"text": "SECRET operator note"},
        headers=admin,
    )
    assert note.status_code == 201, note.text
    answer = client.get(
        f"{BASE}/conversations/{data['conversation_id']}/messages", headers=token(data)
    )
    assert "SECRET" not in answer.text
    assert [m["text"] for m in answer.json()["data"]["messages"]] == ["Hi"]


def test_another_contacts_conversation_is_not_found(
    client: TestClient, admin: dict[str, str]
) -> None:
    mine = chat(client, "Mine")
    theirs = chat(client, "Theirs, private")
    for method in ("get", "post"):
        answer = client.request(
            method.upper(),
            f"{BASE}/conversations/{theirs['conversation_id']}/messages",
            headers=token(mine),
            **({"json": {"text": "Hi"}} if method == "post" else {}),
        )
        assert answer.status_code == 404, answer.text
        assert "private" not in answer.text
    # An operator's conversation started through the API is no visitor's either.
    api = client.post(
        "/api/v1/conversations",
        json={"contact": {"email": "bob@example.com"}, "message": {"text": "Bob's"}},
        headers=admin,
    )
    answer = client.get(
        f"{BASE}/conversations/{api.json()['data']['id']}/messages", headers=token(mine)
    )
    assert answer.status_code == 404


def test_an_email_typed_in_the_widget_opens_no_existing_contact(
    client: TestClient, admin: dict[str, str]
) -> None:
    client.post(
        "/api/v1/conversations",
        json={"contact": {"email": "bob@example.com"}, "message": {"text": "Bob's secret"}},
        headers=admin,
    )
    data = chat(client, "I am Bob", email="bob@example.com")
    messages = listed(client, data)
    assert [m["text"] for m in messages] == ["I am Bob"]


def test_a_token_of_another_workspace_is_refused(client: TestClient, settings: Settings) -> None:
    make_site(settings, "acme", "shop.example")
    make_site(settings, "other", "other.example")
    data = chat(client)
    answer = client.get(
        "/widget/v1/other/config",
        headers={"Origin": "https://other.example", "X-Widget-Token": data["token"]},
    )
    assert answer.status_code == 200  # config takes no token
    answer = client.post(
        "/widget/v1/other/conversations",
        json={"text": "Hi"},
        headers={"Origin": "https://other.example", "X-Widget-Token": data["token"]},
    )
    assert answer.status_code == 403


# ------------------------------------------------------------------------------ the lead


def test_a_chat_that_leaves_an_email_becomes_a_lead_with_its_click(
    client: TestClient, settings: Settings, site: str
) -> None:
    visit = make_visit(settings, "acme", gclid="EAIaIQobChMI-widget")
    data = chat(client, "Call me at ada@example.com please", visit_id=visit)
    rows = fetch_rows(settings, "SELECT email, gclid, source FROM leads")
    assert rows == [{"email": "ada@example.com", "gclid": "EAIaIQobChMI-widget", "source": "chat"}]
    conversation = fetch_rows(
        settings, "SELECT visit_id FROM conversations WHERE id = :id", id=data["conversation_id"]
    )
    assert conversation == [{"visit_id": visit}]


# ------------------------------------------------------------------------------ the offline form


def test_config_says_who_is_online(client: TestClient, settings: Settings, site: str) -> None:
    answer = client.get(f"{BASE}/config", headers=PAGE).json()["data"]
    assert answer == {"online": False, "offline_form": True, "identity_verification": False}
    make_person(settings, "ops@example.com", availability="online")
    answer = client.get(f"{BASE}/config", headers=PAGE).json()["data"]
    assert answer["online"] is True
    assert answer["offline_form"] is False


def test_the_ai_agent_answering_offline_replaces_the_offline_form(
    client: TestClient, site: str, admin_key: str
) -> None:
    turned_on = client.patch(
        "/api/v1/assistant",
        json={
            "enabled": True,
            "mode": "answer_when_offline",
            "base_url": "http://127.0.0.1:9/v1",
            "model": "a-model",
            "api_key": "sk-test",
        },
        headers={"Authorization": f"Bearer {admin_key}"},
    )
    assert turned_on.status_code == 200, turned_on.text
    answer = client.get(f"{BASE}/config", headers=PAGE).json()["data"]
    assert (answer["online"], answer["offline_form"]) == (False, False)
    drafts_only = client.patch(
        "/api/v1/assistant",
        json={"mode": "suggest_drafts"},
        headers={"Authorization": f"Bearer {admin_key}"},
    )
    assert drafts_only.status_code == 200, drafts_only.text
    answer = client.get(f"{BASE}/config", headers=PAGE).json()["data"]
    assert answer["offline_form"] is True


def test_the_offline_form_becomes_a_conversation(
    client: TestClient, settings: Settings, admin: dict[str, str]
) -> None:
    data = chat(client, "Please call me back", name="Ada", email="ada@example.com", offline=True)
    found = client.get(f"/api/v1/conversations/{data['conversation_id']}", headers=admin)
    conversation = found.json()["data"]
    assert conversation["status"] == "open"
    assert conversation["subject"] == "Offline message"
    contact = client.get(f"/api/v1/contacts/{data['contact_id']}", headers=admin).json()["data"]
    assert (contact["name"], contact["email"]) == ("Ada", "ada@example.com")
    assert fetch_rows(settings, "SELECT email FROM leads") == [{"email": "ada@example.com"}]
    assert webhook_events(settings, "conversation.created")


# ------------------------------------------------------------------------------ identify


def identify(
    client: TestClient, body: dict[str, Any], headers: dict[str, str] | None = None
) -> Any:
    return client.post(f"{BASE}/identify", json=body, headers=headers or PAGE)


def test_identify_rejoins_the_same_contact_and_conversation(
    client: TestClient, settings: Settings, site: str
) -> None:
    first = chat(client, "Hello from my first visit")
    answer = identify(
        client,
        {"id": "user-42", "email": "ada@example.com", "name": "Ada", "attributes": {"plan": "pro"}},
        token(first),
    )
    assert answer.status_code == 200, answer.text
    identified = answer.json()["data"]
    assert identified["contact_id"] == first["contact_id"]
    assert identified["conversation_id"] == first["conversation_id"]
    # A later visit, a new browser without the token: the same id finds them again.
    later = identify(client, {"id": "user-42"}).json()["data"]
    assert later["contact_id"] == first["contact_id"]
    assert later["conversation_id"] == first["conversation_id"]
    assert [m["text"] for m in listed(client, later)] == ["Hello from my first visit"]
    events = webhook_events(settings, "contact.identified")
    assert len(events) == 2
    assert events[0]["data"]["external_id"] == "user-42"
    assert events[0]["data"]["email"] == "ada@example.com"
    assert events[0]["data"]["attributes"] == {"plan": "pro"}
    assert events[0]["data"]["verified"] is False
    assert events[0]["data"]["identified_at"].endswith("Z")


def test_identify_before_any_chat_makes_the_contact(client: TestClient, site: str) -> None:
    data = identify(client, {"id": "user-7", "name": "Bo"}).json()["data"]
    assert "conversation_id" not in data
    started = client.post(f"{BASE}/conversations", json={"text": "Hi"}, headers=token(data))
    assert started.json()["data"]["contact_id"] == data["contact_id"]
    assert (
        identify(client, {"id": "user-7"}).json()["data"]["conversation_id"]
        == (started.json()["data"]["conversation_id"])
    )


def test_identify_with_verification(
    client: TestClient, settings: Settings, site: str, cli: Any
) -> None:
    set_workspace(settings, "acme", widget_identity_verification=True)
    secret = identity_secret(cli)
    assert len(secret) == 64
    good = hmac.new(secret.encode(), b"user-42", hashlib.sha256).hexdigest()
    wrong = good[:-1] + ("1" if good.endswith("0") else "0")
    for bad in ({}, {"hash": "0" * 64}, {"hash": wrong}, {"hash": 5}):
        answer = identify(client, {"id": "user-42", **bad})
        assert answer.status_code in (400, 403), answer.text
        if answer.status_code == 403:
            assert answer.json()["error"]["code"] == "identity_not_verified"
    assert webhook_events(settings, "contact.identified") == []
    assert fetch_rows(settings, "SELECT id FROM contacts") == []
    answer = identify(client, {"id": "user-42", "hash": good})
    assert answer.status_code == 200, answer.text
    assert client.get(f"{BASE}/config", headers=PAGE).json()["data"]["identity_verification"]
    # Someone else's id, signed for user-42, is refused.
    assert identify(client, {"id": "user-43", "hash": good}).status_code == 403


def test_the_secret_differs_per_workspace(cli: Any, settings: Settings) -> None:
    from leadline.cli import app

    make_key(settings, "acme")
    make_key(settings, "other")
    one = cli.invoke(app, ["widget", "secret", "--workspace", "acme"]).output.strip()
    two = cli.invoke(app, ["widget", "secret", "--workspace", "other"]).output.strip()
    assert one != two
    assert cli.invoke(app, ["widget", "secret", "--workspace", "nobody"]).exit_code != 0
    turned = cli.invoke(app, ["widget", "verification", "on", "--workspace", "acme"])
    assert turned.exit_code == 0, turned.output
    rows = fetch_rows(
        settings, "SELECT widget_identity_verification AS v FROM workspaces WHERE slug = 'acme'"
    )
    assert bool(rows[0]["v"]) is True
    audited = fetch_rows(settings, "SELECT action, changes FROM audit_events")
    assert any(
        row["action"] == "workspace.updated" and "widget_identity_verification" in row["changes"]
        for row in audited
    )


def test_a_closed_workspace_takes_no_chat(
    client: TestClient, settings: Settings, site: str
) -> None:
    set_workspace(settings, "acme", status="closed")
    answer = client.post(f"{BASE}/conversations", json={"text": "Hi"}, headers=PAGE)
    assert answer.status_code == 409, answer.text
    assert fetch_rows(settings, "SELECT id FROM conversations") == []


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"id": ""},
        {"id": "x" * 201},
        {"id": ["a"]},
        {"id": "u", "email": "nope"},
        {"id": "u", "attributes": "plan"},
        {"id": "u", "extra": 1},
    ],
)
def test_identify_bad_input_is_400(
    client: TestClient, settings: Settings, site: str, body: dict[str, Any]
) -> None:
    answer = identify(client, body)
    assert answer.status_code == 400, answer.text
    assert fetch_rows(settings, "SELECT id FROM contacts") == []
