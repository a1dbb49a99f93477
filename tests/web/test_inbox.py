"""The Inbox pages through the ASGI app: the list by status and assignee, a thread, its forms
(plain and htmx), and who may open them."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from leadline.app import create_app
from leadline.config import Settings
from tests.fixtures.factories import fetch_rows, make_key
from tests.fixtures.inbox import make_person, messages, patch, start
from tests.fixtures.leadiosa import bearer
from tests.fixtures.web import (
    cheap_hashing,  # noqa: F401  (a fixture)
    make_member,
    sign_in,
)

pytestmark = pytest.mark.usefixtures("cheap_hashing")

AGENT = "agent@example.com"


@pytest.fixture
def owner(settings: Settings) -> str:
    """The workspace's first person (its owner), who signs in to the dashboard."""
    return make_member(settings, "acme", "owner@example.com", role="owner", name="Olive Owner")


@pytest.fixture
def leadiosa(client: TestClient, settings: Settings, owner: str) -> Iterator[TestClient]:
    """A second client on the same database, sending an admin key of ``acme`` (the API)."""
    key = make_key(settings, "acme", "admin")
    with TestClient(create_app(settings), headers=bearer(key)) as api:
        yield api


@pytest.fixture
def csrf(client: TestClient, owner: str) -> str:
    return sign_in(client, "owner@example.com")


@pytest.fixture
def hooked(settings: Settings, leadiosa: TestClient) -> None:
    """An endpoint of ``acme`` subscribed to every event, so events are written."""
    private = Settings(database_url=settings.database_url, webhooks_allow_private=True)
    with TestClient(create_app(private)) as client:
        answer = client.post(
            "/api/v1/webhooks",
            json={"url": "http://127.0.0.1:9/hook"},
            headers={"Authorization": leadiosa.headers["Authorization"]},
        )
        assert answer.status_code == 201, answer.text


def events(settings: Settings, *types: str) -> list[dict[str, Any]]:
    rows = fetch_rows(settings, "SELECT type, body FROM webhook_events ORDER BY created_at, id")
    return [json.loads(row["body"]) for row in rows if not types or row["type"] in types]


def post(client: TestClient, path: str, csrf: str, htmx: bool = False, **fields: str) -> Any:
    headers = {"HX-Request": "true"} if htmx else {}
    return client.post(
        path, data={"csrf_token": csrf, **fields}, headers=headers, follow_redirects=False
    )


def texts(html: str) -> list[str]:
    return [text.strip() for text in re.findall(r'<div class="entry-text">(.*?)</div>', html, re.S)]


# ------------------------------------------------------------------------------ access


def test_anonymous_people_are_sent_to_sign_in(client: TestClient, leadiosa: TestClient) -> None:
    conversation = start(leadiosa)
    base = f"/app/inbox/{conversation['id']}"
    for path in ("/app/inbox", base, f"{base}/events"):
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 303, path
        assert answer.headers["location"].startswith("/app/signin?next=")
        assert client.get(path, headers={"HX-Request": "true"}).status_code == 401
    for action in ("reply", "note", "assign", "snooze", "close", "reopen", "spam"):
        answer = client.post(f"{base}/{action}", data={"text": "hi"}, follow_redirects=False)
        assert answer.status_code == 401, action
    assert len(messages(leadiosa, conversation["id"])) == 1


def test_a_form_without_its_csrf_token_is_refused(
    client: TestClient, leadiosa: TestClient, csrf: str
) -> None:
    conversation = start(leadiosa)
    base = f"/app/inbox/{conversation['id']}"
    for action, fields in (("reply", {"text": "hi"}), ("close", {}), ("note", {"text": "x"})):
        answer = client.post(f"{base}/{action}", data=fields, follow_redirects=False)
        assert answer.status_code == 403, action
        wrong = post(client, f"{base}/{action}", "0" * 64, **fields)
        assert wrong.status_code == 403, action
    assert len(messages(leadiosa, conversation["id"])) == 1
    assert (
        leadiosa.get(f"/api/v1/conversations/{conversation['id']}").json()["data"]["status"]
        == "open"
    )
    assert leadiosa.get(f"/api/v1/conversations/{conversation['id']}/notes").json()["data"] == []


def test_another_workspaces_conversation_is_not_found(
    client: TestClient, settings: Settings, leadiosa: TestClient, csrf: str
) -> None:
    other_key = make_key(settings, "globex", "admin")
    with TestClient(create_app(settings), headers=bearer(other_key)) as other:
        theirs = start(other, text="Globex's secret")
    base = f"/app/inbox/{theirs['id']}"
    page = client.get(base)
    assert page.status_code == 404
    assert "Globex's secret" not in page.text
    assert client.get(f"{base}/events").status_code == 404
    for action in ("reply", "note", "close", "spam", "assign"):
        assert post(client, f"{base}/{action}", csrf, text="mine now").status_code == 404
    assert client.get("/app/inbox/not-an-id").status_code == 404
    listed = client.get("/app/inbox?status=all")
    assert theirs["id"] not in listed.text
    with TestClient(create_app(settings), headers=bearer(other_key)) as other:
        assert len(messages(other, theirs["id"])) == 1


# -------------------------------------------------------------------------------- list


def test_the_list_by_status_and_assignee_newest_activity_first(
    client: TestClient, settings: Settings, leadiosa: TestClient, owner: str, csrf: str
) -> None:
    agent = make_person(settings, AGENT)
    first = start(leadiosa, contact={"name": "First Contact"})
    second = start(leadiosa, contact={"name": "Second Contact"})
    third = start(leadiosa, contact={"name": "Third Contact"})
    assert patch(leadiosa, first["id"], assignee_id=owner).status_code == 200
    assert patch(leadiosa, second["id"], assignee_id=agent.id).status_code == 200
    assert patch(leadiosa, third["id"], status="closed").status_code == 200

    def listed(query: str) -> list[str]:
        page = client.get(f"/app/inbox{query}")
        assert page.status_code == 200, page.text
        return re.findall(r'class="inbox-contact" href="/app/inbox/[^"]+">([^<]+)<', page.text)

    # Open ones of everyone by default, the newest activity first.
    assert listed("") == ["Second Contact", "First Contact"]
    leadiosa.post(f"/api/v1/conversations/{first['id']}/messages", json={"text": "Hello again"})
    assert listed("") == ["First Contact", "Second Contact"]
    assert listed("?assignee=mine") == ["First Contact"]
    assert listed("?assignee=unassigned") == []
    assert listed("?status=closed") == ["Third Contact"]
    assert listed("?status=closed&assignee=unassigned") == ["Third Contact"]
    assert listed("?status=all") == ["First Contact", "Third Contact", "Second Contact"]
    assert client.get("/app/inbox?status=pending").status_code == 400
    assert client.get("/app/inbox?assignee=them").status_code == 400
    assert client.get("/app/inbox?after=nonsense").status_code == 400
    page = client.get("/app/inbox?assignee=mine")
    assert 'aria-current="page">Mine<' in page.text
    assert "Assigned to Olive Owner" in page.text


def test_the_list_is_paginated(
    client: TestClient, leadiosa: TestClient, csrf: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from leadline.web import inbox as pages

    monkeypatch.setattr(pages, "PAGE_SIZE", 2)
    for name in ("One", "Two", "Three"):
        start(leadiosa, contact={"name": name})
    page = client.get("/app/inbox")
    assert ">Three<" in page.text
    assert ">Two<" in page.text
    assert ">One<" not in page.text
    more = re.search(r'href="([^"]+)">Older conversations<', page.text)
    assert more is not None
    following = client.get(more.group(1).replace("&amp;", "&"))
    assert ">One<" in following.text
    assert ">Two<" not in following.text
    assert "Older conversations" not in following.text
    assert "Newest conversations" in following.text


def test_the_empty_inbox_says_how_conversations_start(client: TestClient, csrf: str) -> None:
    page = client.get("/app/inbox")
    assert page.status_code == 200
    assert "No open conversations" in page.text
    assert "/api/v1/conversations" in page.text
    mine = client.get("/app/inbox?assignee=mine")
    assert "No open conversations assigned to you" in mine.text
    assert "see every conversation" in mine.text


# ------------------------------------------------------------------------------ thread


def test_a_reply_from_the_page_is_the_apis_reply(
    client: TestClient,
    settings: Settings,
    leadiosa: TestClient,
    owner: str,
    csrf: str,
    hooked: None,
) -> None:
    conversation = start(leadiosa, contact={"name": "Ada"}, text="Is it in stock?")
    cid = conversation["id"]
    page = client.get(f"/app/inbox/{cid}")
    assert page.status_code == 200
    assert "Conversation with Ada" in page.text
    assert texts(page.text) == ["Is it in stock?"]

    answer = post(client, f"/app/inbox/{cid}/reply", csrf, text="Yes, <b>it is</b>.")
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/app/inbox/{cid}?done=replied#reply"
    shown = client.get(answer.headers["location"])
    assert "Reply sent." in shown.text
    assert "Yes, &lt;b&gt;it is&lt;/b&gt;." in shown.text

    found = messages(leadiosa, cid)
    assert [(m["author"], m["text"]) for m in found] == [
        ("contact", "Is it in stock?"),
        ("operator", "Yes, <b>it is</b>."),
    ]
    assert found[1]["person_id"] == owner
    # The same event as a reply through the API by a person's token.
    agent = make_person(settings, AGENT)
    posted = leadiosa.post(
        f"/api/v1/conversations/{cid}/messages",
        json={"text": "Anything else?"},
        headers=agent.headers,
    )
    assert posted.status_code == 201
    from_page, from_api = events(settings, "message.created")[1:]
    assert from_page["type"] == from_api["type"] == "message.created"
    assert set(from_page["data"]) == set(from_api["data"])
    assert from_page["data"]["from"] == from_api["data"]["from"] == "operator"
    assert from_page["data"]["message_id"] == found[1]["id"]
    # The reply ended the contact's wait, as an operator's reply through the API does.
    leadiosa_conversation = leadiosa.get(f"/api/v1/conversations/{cid}").json()["data"]
    assert leadiosa_conversation["first_reply_at"]
    assert "waiting_since" not in leadiosa_conversation


def test_a_reply_from_the_page_ends_an_ai_hand_offs_wait_for_a_human(
    client: TestClient, settings: Settings, leadiosa: TestClient, csrf: str
) -> None:
    from tests.fixtures.audit import run_sql

    cid = start(leadiosa, contact={"name": "Ada"}, text="A person please")["id"]
    run_sql(
        settings,
        "INSERT INTO assistant_conversations (conversation_id, workspace_id, enabled,"
        " waiting_for_human, handoff_reason, updated_at) SELECT id, workspace_id, :yes, :yes,"
        " 'asked_for_person', created_at FROM conversations WHERE id = :id",
        id=cid,
        yes=True,
    )
    before = fetch_rows(settings, "SELECT waiting_for_human FROM assistant_conversations")
    assert before == [{"waiting_for_human": True}]
    assert post(client, f"/app/inbox/{cid}/reply", csrf, text="Hi, Olive here.").status_code == 303
    rows = fetch_rows(
        settings, "SELECT waiting_for_human, handoff_reason FROM assistant_conversations"
    )
    assert rows == [{"waiting_for_human": False, "handoff_reason": None}]


def test_a_reply_with_htmx_answers_the_conversation_and_what_was_done(
    client: TestClient, leadiosa: TestClient, csrf: str
) -> None:
    cid = start(leadiosa)["id"]
    answer = post(client, f"/app/inbox/{cid}/reply", csrf, htmx=True, text="On its way")
    assert answer.status_code == 200
    assert answer.text.lstrip().startswith('<div id="conversation"')
    assert "<html" not in answer.text
    assert texts(answer.text) == ["Hello, I have a question", "On its way"]
    assert re.search(r'id="inbox-announce" hx-swap-oob="innerHTML">Reply sent.<', answer.text)


def test_a_refused_form_shows_the_thread_with_what_was_wrong(
    client: TestClient, leadiosa: TestClient, csrf: str
) -> None:
    cid = start(leadiosa)["id"]
    for htmx in (False, True):
        answer = post(client, f"/app/inbox/{cid}/reply", csrf, htmx=htmx, text="   ")
        assert answer.status_code == 400
        assert answer.headers["X-Inbox-Form"] == "refused"
        assert 'role="alert" id="reply-error">Text must not be empty<' in answer.text
        assert 'aria-invalid="true"' in answer.text
    too_long = post(client, f"/app/inbox/{cid}/note", csrf, text="x" * 10_001)
    assert too_long.status_code == 400
    assert 'id="note-error"' in too_long.text
    assert "x" * 10_001 in too_long.text  # kept, to be shortened
    # Closed: it may be opened again, not snoozed.
    assert post(client, f"/app/inbox/{cid}/close", csrf).status_code == 303
    again = post(client, f"/app/inbox/{cid}/snooze", csrf, **{"for": "1h"})
    assert again.status_code == 422
    assert 'id="action-error"' in again.text
    assigned = post(client, f"/app/inbox/{cid}/assign", csrf, assignee="per_nobody")
    assert assigned.status_code == 409
    assert post(client, f"/app/inbox/{cid}/reopen", csrf).status_code == 303
    nobody = post(client, f"/app/inbox/{cid}/assign", csrf, assignee="per_nobody")
    assert nobody.status_code == 404
    assert 'id="action-error"' in nobody.text
    assert post(client, f"/app/inbox/{cid}/shout", csrf).status_code == 404
    assert len(messages(leadiosa, cid)) == 1


def test_a_note_is_shown_as_a_note_and_never_to_the_contact(
    client: TestClient, settings: Settings, leadiosa: TestClient, csrf: str, hooked: None
) -> None:
    cid = start(leadiosa)["id"]
    answer = post(client, f"/app/inbox/{cid}/note", csrf, text="VIP, be nice @owner@example.com")
    assert answer.status_code == 303
    page = client.get(answer.headers["location"])
    assert "Note added." in page.text
    note = re.search(
        r'<li id="entry-note_[^"]+" class="entry entry-note">(.*?)</li>', page.text, re.S
    )
    assert note is not None
    assert "Internal note" in note.group(1)
    assert "VIP, be nice" in note.group(1)
    # What a contact-facing part reads: the messages and the events; never the note.
    assert all("VIP" not in m["text"] for m in messages(leadiosa, cid))
    assert all("VIP" not in json.dumps(event) for event in events(settings))
    [listed] = leadiosa.get(f"/api/v1/conversations/{cid}/notes").json()["data"]
    assert listed["text"] == "VIP, be nice @owner@example.com"
    assert listed["mentions"] == ["owner@example.com"]


def test_assign_snooze_close_reopen_and_spam(
    client: TestClient, settings: Settings, leadiosa: TestClient, owner: str, csrf: str
) -> None:
    agent = make_person(settings, AGENT)
    cid = start(leadiosa, contact={"email": "ada@example.com"})["id"]

    def state() -> dict[str, Any]:
        found: dict[str, Any] = leadiosa.get(f"/api/v1/conversations/{cid}").json()["data"]
        return found

    assert post(client, f"/app/inbox/{cid}/assign", csrf, assignee=agent.id).status_code == 303
    assert state()["assignee_id"] == agent.id
    assert post(client, f"/app/inbox/{cid}/assign", csrf, assignee="me").status_code == 303
    assert state()["assignee_id"] == owner
    answer = post(client, f"/app/inbox/{cid}/assign", csrf, htmx=True, assignee="")
    assert answer.status_code == 200
    assert "Assignment saved." in answer.text
    assert "assignee_id" not in state()

    assert post(client, f"/app/inbox/{cid}/snooze", csrf, **{"for": "4h"}).status_code == 303
    assert state()["status"] == "snoozed"
    page = client.get(f"/app/inbox/{cid}")
    assert "Snoozed until" in page.text
    # A chosen time, in the browser's zone (UTC+2: 120 minutes ahead of UTC).
    answer = post(
        client,
        f"/app/inbox/{cid}/snooze",
        csrf,
        **{"for": "custom", "until": "2099-05-12T09:30", "offset": "-120"},
    )
    assert answer.status_code == 303
    assert state()["snoozed_until"] == "2099-05-12T07:30:00.000Z"
    past = post(
        client, f"/app/inbox/{cid}/snooze", csrf, **{"for": "custom", "until": "2001-01-01T00:00"}
    )
    assert past.status_code == 400
    assert "future" in past.text
    bad = post(client, f"/app/inbox/{cid}/snooze", csrf, **{"for": "custom", "until": "soon"})
    assert bad.status_code == 400
    for offset in ("\u00b2", "99999999", "x"):  # not an offset: the time is UTC
        answer = post(
            client,
            f"/app/inbox/{cid}/snooze",
            csrf,
            **{"for": "custom", "until": "2099-05-12T09:30", "offset": offset},
        )
        assert answer.status_code == 303
        assert state()["snoozed_until"] == "2099-05-12T09:30:00.000Z"
    for until in ("9999-12-31T23:59", "\x00"):
        answer = post(
            client,
            f"/app/inbox/{cid}/snooze",
            csrf,
            **{"for": "custom", "until": until, "offset": "600"},
        )
        assert answer.status_code == 400
    assert post(client, f"/app/inbox/{cid}/snooze", csrf, **{"for": "ages"}).status_code == 400

    assert post(client, f"/app/inbox/{cid}/close", csrf).status_code == 303
    assert state()["status"] == "closed"
    assert post(client, f"/app/inbox/{cid}/reopen", csrf).status_code == 303
    assert state()["status"] == "open"
    spam = post(client, f"/app/inbox/{cid}/spam", csrf, htmx=True)
    assert spam.status_code == 200
    assert "Marked as spam." in spam.text
    assert "Not spam: reopen" in spam.text
    assert state()["status"] == "spam"
    # The spam contact's next message is kept, shown as kept aside.
    leadiosa.post(
        f"/api/v1/conversations/{cid}/messages", json={"text": "Buy now", "author": "contact"}
    )
    page = client.get(f"/app/inbox/{cid}")
    kept = re.search(
        r'class="entry entry-contact entry-quarantined"[^>]*>(.*?)</li>', page.text, re.S
    )
    assert kept is not None
    assert "Kept aside as spam" in kept.group(1)
    assert "Buy now" in kept.group(1)
    # Each change is the person's in the audit log.
    actors = fetch_rows(
        settings,
        "SELECT DISTINCT actor_type, actor_id FROM audit_events"
        " WHERE action LIKE 'conversation.%' AND action != 'conversation.created'",
    )
    assert actors == [{"actor_type": "user", "actor_id": owner}]


def test_a_long_thread_shows_its_latest_messages_with_a_link_to_earlier_ones(
    client: TestClient, leadiosa: TestClient, csrf: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from leadline.web import inbox as pages

    monkeypatch.setattr(pages, "THREAD_SIZE", 2)
    cid = start(leadiosa, text="m1")["id"]
    for text in ("m2", "m3", "m4"):
        leadiosa.post(f"/api/v1/conversations/{cid}/messages", json={"text": text})
    page = client.get(f"/app/inbox/{cid}")
    assert texts(page.text) == ["m3", "m4"]
    assert 'data-events="/app/inbox/' in page.text
    earlier = client.get(f"/app/inbox/{cid}?earlier=3")
    assert texts(earlier.text) == ["m1", "m2"]
    assert "data-events" not in earlier.text  # not the latest: nothing is added to it live
    assert "Show the latest messages" in earlier.text
    for bad in ("x", "\u00b2", "-1", "9" * 30):
        assert client.get(f"/app/inbox/{cid}", params={"earlier": bad}).status_code == 400
