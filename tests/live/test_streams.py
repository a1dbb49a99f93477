"""The streams over a real server: operators' (bearer token) and the widget's (its token and
domains); resuming from Last-Event-ID; typing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from leadline.config import Settings
from tests.fixtures.factories import make_key, make_site
from tests.fixtures.inbox import make_person
from tests.fixtures.leadiosa import bearer
from tests.fixtures.server import live_server

# Every read of a stream is bounded: a test that waits longer than this fails.
READ_SECONDS = 5.0
PAGE = {"Origin": "https://shop.example"}


@pytest.fixture
def server(settings: Settings) -> Iterator[str]:
    with live_server(settings) as url:
        yield url


@pytest.fixture
def operator(settings: Settings, server: str) -> Iterator[httpx.Client]:
    headers = bearer(make_key(settings, "acme", "admin"))
    with httpx.Client(base_url=server, headers=headers, timeout=READ_SECONDS) as http:
        yield http


def start(http: httpx.Client, text: str = "Hello") -> str:
    body = {"contact": {"name": "Ada"}, "message": {"text": text}}
    answer = http.post("/api/v1/conversations", json=body)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["data"]["id"])


def post(http: httpx.Client, conversation_id: str, text: str) -> dict[str, Any]:
    answer = http.post(f"/api/v1/conversations/{conversation_id}/messages", json={"text": text})
    assert answer.status_code == 201, answer.text
    posted: dict[str, Any] = answer.json()["data"]
    return posted


class Events:
    """An open event stream, read an event at a time (comments are heartbeats, skipped)."""

    def __init__(self, lines: Iterator[str]) -> None:
        self.lines = lines

    def next(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for line in self.lines:
            if not line:
                if "event" in found:
                    return found
                found = {}
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(": ")
            found[name] = json.loads(value) if name == "data" else value
        raise AssertionError("the stream ended")


@contextmanager
def opened(http: httpx.Client, url: str, headers: dict[str, str] | None = None) -> Iterator[Events]:
    timeout = httpx.Timeout(READ_SECONDS)
    with http.stream("GET", url, headers=headers or {}, timeout=timeout) as answer:
        assert answer.status_code == 200, answer.read()
        assert answer.headers["content-type"].startswith("text/event-stream")
        lines = answer.iter_lines()
        assert next(lines).startswith("retry:")  # subscribed by now
        yield Events(lines)


def test_the_operator_stream_receives_a_message_posted_through_the_api(
    operator: httpx.Client,
) -> None:
    conversation_id = start(operator)
    with opened(operator, f"/api/v1/conversations/{conversation_id}/stream") as events:
        posted = post(operator, conversation_id, "We ship to Norway, yes.")
        got = events.next()
    assert got["event"] == "message.created"
    assert got["id"] == str(posted["seq"]) == "2"
    assert got["data"]["id"] == posted["id"]
    assert got["data"]["text"] == "We ship to Norway, yes."
    assert got["data"]["from"] == "operator"


def test_a_stream_resumed_from_last_event_id_loses_nothing(operator: httpx.Client) -> None:
    conversation_id = start(operator, "first")
    for text in ("second", "third", "fourth"):
        post(operator, conversation_id, text)
    url = f"/api/v1/conversations/{conversation_id}/stream"
    with opened(operator, url, {"Last-Event-ID": "2"}) as events:
        replayed = [events.next(), events.next()]
        post(operator, conversation_id, "fifth")
        followed = events.next()
    got = [(e["id"], e["data"]["text"]) for e in [*replayed, followed]]
    assert got == [("3", "third"), ("4", "fourth"), ("5", "fifth")]


def test_the_operator_stream_is_the_workspaces_own(
    operator: httpx.Client, settings: Settings, server: str
) -> None:
    conversation_id = start(operator)
    other = bearer(make_key(settings, "globex", "admin"))
    answer = operator.get(f"/api/v1/conversations/{conversation_id}/stream", headers=other)
    assert answer.status_code == 404
    answer = operator.get(
        f"/api/v1/conversations/{conversation_id}/stream", headers={"Authorization": ""}
    )
    assert answer.status_code == 401


def test_operator_typing_reaches_the_stream_and_is_not_stored(operator: httpx.Client) -> None:
    conversation_id = start(operator)
    with opened(operator, f"/api/v1/conversations/{conversation_id}/stream") as events:
        answer = operator.post(f"/api/v1/conversations/{conversation_id}/typing", json={})
        assert answer.status_code == 200, answer.text
        got = events.next()
    assert got["event"] == "typing"
    assert "id" not in got
    assert got["data"]["from"] == "operator"
    assert got["data"]["typing"] is True
    listed = operator.get(f"/api/v1/conversations/{conversation_id}/messages").json()["data"]
    assert len(listed) == 1


# ------------------------------------------------------------------------------ the widget


def chat(http: httpx.Client, text: str = "Hello") -> dict[str, Any]:
    answer = http.post("/widget/v1/acme/conversations", json={"text": text}, headers=PAGE)
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()["data"]
    return data


def test_the_widget_stream_follows_the_visitors_conversation(
    operator: httpx.Client, settings: Settings, server: str
) -> None:
    make_site(settings, "acme", "shop.example")
    with httpx.Client(base_url=server, timeout=READ_SECONDS) as visitor:
        data = chat(visitor, "Do you ship to Lisbon?")
        url = f"/widget/v1/acme/conversations/{data['conversation_id']}/stream"
        with opened(visitor, url, {**PAGE, "X-Widget-Token": data["token"]}) as events:
            operator.post(f"/api/v1/conversations/{data['conversation_id']}/typing", json={})
            typing = events.next()
            post(operator, data["conversation_id"], "Yes, we do.")
            message = events.next()
        answer = visitor.post(
            f"/widget/v1/acme/conversations/{data['conversation_id']}/typing",
            json={"typing": False},
            headers={**PAGE, "X-Widget-Token": data["token"]},
        )
        assert answer.status_code == 200, answer.text
    assert typing["data"] == {
        "conversation_id": data["conversation_id"],
        "from": "operator",
        "typing": True,
    }
    assert message["id"] == "2"
    assert message["data"]["from"] == "operator"
    assert message["data"]["text"] == "Yes, we do."
    assert set(message["data"]) == {"id", "seq", "from", "text", "created_at"}


def test_the_widget_stream_refuses_another_contacts_conversation(
    client: TestClient, settings: Settings
) -> None:
    make_site(settings, "acme", "shop.example")
    mine = client.post("/widget/v1/acme/conversations", json={"text": "Hi"}, headers=PAGE)
    theirs = client.post("/widget/v1/acme/conversations", json={"text": "Hey"}, headers=PAGE)
    mine_data, theirs_data = mine.json()["data"], theirs.json()["data"]
    url = f"/widget/v1/acme/conversations/{theirs_data['conversation_id']}/stream"
    answer = client.get(url, headers={**PAGE, "X-Widget-Token": mine_data["token"]})
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "not_found"
    # Nor without a token, nor from a page of another domain, nor with a forged token.
    assert client.get(url, headers=PAGE).status_code == 401
    elsewhere = {"Origin": "https://evil.example", "X-Widget-Token": theirs_data["token"]}
    assert client.get(url, headers=elsewhere).status_code == 403
    forged = {**PAGE, "X-Widget-Token": theirs_data["contact_id"] + ".AAAA"}
    assert client.get(url, headers=forged).status_code in (401, 403)


def test_the_workspace_stream_tells_operators_of_messages_and_presence(
    operator: httpx.Client, settings: Settings
) -> None:
    member = make_person(settings, "grace@example.com", availability="offline")
    conversation_id = start(operator)
    with opened(operator, "/api/v1/stream") as events:
        post(operator, conversation_id, "On its way.")
        message = events.next()
        answer = operator.patch(f"/api/v1/people/{member.id}", json={"availability": "online"})
        assert answer.status_code == 200, answer.text
        presence = events.next()
    assert message["event"] == "message.created"
    assert "id" not in message  # no replay on the workspace's stream
    assert message["data"]["conversation_id"] == conversation_id
    assert presence["event"] == "presence"
    assert presence["data"]["person_id"] == member.id
    assert presence["data"]["online"] is True


def test_the_widget_stream_takes_its_token_in_the_query_and_resumes(
    operator: httpx.Client, settings: Settings, server: str
) -> None:
    make_site(settings, "acme", "shop.example")
    with httpx.Client(base_url=server, timeout=READ_SECONDS) as visitor:
        data = chat(visitor, "first")
        post(operator, data["conversation_id"], "second")
        url = f"/widget/v1/acme/conversations/{data['conversation_id']}/stream"
        with opened(visitor, f"{url}?token={data['token']}&after=0", PAGE) as events:
            replayed = [events.next(), events.next()]
    assert [(e["id"], e["data"]["text"]) for e in replayed] == [("1", "first"), ("2", "second")]
    assert {"person_id", "quarantined"}.isdisjoint(replayed[1]["data"])
