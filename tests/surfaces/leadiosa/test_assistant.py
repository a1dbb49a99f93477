"""The assistant against a local chat model: answers with citations, drafts (and sending one,
once), hand-offs (and an operator's reply ending one), the token limit, a failing provider, and
the settings' key (never returned, sealed at rest)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from leadline.app import create_app
from leadline.config import Settings
from tests.fixtures.audit import audit_rows
from tests.fixtures.chat_provider import KEY, MODEL, TOKENS, ChatProvider, chat_server
from tests.fixtures.factories import fetch_rows, make_site
from tests.fixtures.inbox import make_person
from tests.fixtures.jobs import run_worker_until
from tests.fixtures.leadiosa import bearer, error_of

REFUNDS = "# Refunds\n\nRefunds are paid back to the card within 30 days of the return."


@pytest.fixture
def fast(settings: Settings) -> Settings:
    return Settings(
        database_url=settings.database_url, jobs_poll_seconds=0.05, webhooks_allow_private=True
    )


@pytest.fixture
def chat() -> Iterator[ChatProvider]:
    with chat_server() as provider:
        yield provider


@pytest.fixture
def hooked(settings: Settings, admin_key: str) -> None:
    """An endpoint of ``acme`` subscribed to every event, so events are written."""
    private = Settings(database_url=settings.database_url, webhooks_allow_private=True)
    with TestClient(create_app(private)) as client:
        answer = client.post(
            "/api/v1/webhooks", json={"url": "http://127.0.0.1:9/hook"}, headers=bearer(admin_key)
        )
        assert answer.status_code == 201, answer.text


def events(settings: Settings, kind: str) -> list[dict[str, Any]]:
    rows = fetch_rows(settings, "SELECT type, body FROM webhook_events ORDER BY created_at, id")
    return [json.loads(row["body"])["data"] for row in rows if row["type"] == kind]


def configure(api: TestClient, chat: ChatProvider, **more: Any) -> dict[str, Any]:
    answer = api.patch(
        "/api/v1/assistant",
        json={
            "enabled": True,
            "base_url": chat.url,
            "model": MODEL,
            "api_key": KEY,
            "business_description": "Acme sells garden tools.",
            **more,
        },
    )
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()["data"]
    return found


def publish(api: TestClient) -> dict[str, Any]:
    answer = api.post(
        "/api/v1/knowledge", json={"title": "Refunds", "body": REFUNDS, "published": True}
    )
    assert answer.status_code == 201, answer.text
    found: dict[str, Any] = answer.json()["data"]
    return found


def visitor_says(api: TestClient, text: str) -> str:
    answer = api.post(
        "/api/v1/conversations",
        json={"contact": {"name": "Ada"}, "message": {"text": text}},
    )
    assert answer.status_code == 201, answer.text
    conversation_id: str = answer.json()["data"]["id"]
    return conversation_id


def thread(api: TestClient, conversation_id: str) -> list[dict[str, Any]]:
    answer = api.get(f"/api/v1/conversations/{conversation_id}/messages")
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()["data"]
    return found


def waiting(settings: Settings, conversation_id: str) -> list[dict[str, Any]]:
    return fetch_rows(
        settings,
        "SELECT handoff_reason FROM assistant_conversations"
        " WHERE conversation_id = :id AND waiting_for_human = :yes",
        id=conversation_id,
        yes=True,
    )


def no_jobs_left(settings: Settings) -> bool:
    return not fetch_rows(
        settings,
        "SELECT id FROM jobs WHERE kind = 'assistant.reply' AND state IN ('queued', 'running')",
    )


def test_answer_with_citations_posted_as_ai(
    leadiosa: TestClient, fast: Settings, chat: ChatProvider
) -> None:
    article = publish(leadiosa)
    configure(leadiosa, chat)
    conversation_id = visitor_says(leadiosa, "How long do refunds take?")
    run_worker_until(fast, lambda: len(thread(leadiosa, conversation_id)) == 2)

    [request] = chat.requests
    assert request["model"] == MODEL
    assert chat.headers[0]["authorization"] == f"Bearer {KEY}"
    system, user = request["messages"]
    assert system["role"] == "system"
    assert system["content"].startswith("Acme sells garden tools.")
    assert "Refunds are paid back to the card" in system["content"]
    assert article["id"] in system["content"]
    assert user == {"role": "user", "content": "How long do refunds take?"}

    first, reply = thread(leadiosa, conversation_id)
    assert first["author"] == "contact"
    assert reply["author"] == "ai"
    assert "within 30 days" in reply["text"]
    assert f"Sources: {article['id']}#kbc_" in reply["text"]

    billed = leadiosa.get("/api/v1/billing/subscription").json()["data"]
    assert billed["assistant_tokens"]["used"] == TOKENS
    assert billed["usage"]["ai_tokens"]["used"] == TOKENS


def test_suggest_mode_stores_a_draft_and_posts_nothing(
    leadiosa: TestClient, fast: Settings, settings: Settings, chat: ChatProvider
) -> None:
    article = publish(leadiosa)
    configure(leadiosa, chat, mode="suggest_drafts")
    conversation_id = visitor_says(leadiosa, "How long do refunds take?")
    url = f"/api/v1/conversations/{conversation_id}/drafts"
    run_worker_until(fast, lambda: bool(leadiosa.get(url).json()["data"]))

    [draft] = leadiosa.get(url).json()["data"]
    assert "within 30 days" in draft["text"]
    assert draft["citations"][0]["article_id"] == article["id"]
    assert draft["citations"][0]["chunk_id"].startswith("kbc_")
    assert [message["author"] for message in thread(leadiosa, conversation_id)] == ["contact"]


@pytest.mark.usefixtures("hooked")
def test_handoff_when_nothing_is_relevant(
    leadiosa: TestClient, fast: Settings, settings: Settings, chat: ChatProvider
) -> None:
    publish(leadiosa)
    configure(leadiosa, chat)
    conversation_id = visitor_says(leadiosa, "Do you sell bicycles?")
    run_worker_until(fast, lambda: bool(waiting(settings, conversation_id)))

    assert waiting(settings, conversation_id) == [{"handoff_reason": "nothing_relevant"}]
    assert chat.requests == []
    assert len(thread(leadiosa, conversation_id)) == 1
    [event] = events(settings, "ai.handoff")
    assert event["conversation_id"] == conversation_id
    assert event["reason"] == "nothing_relevant"


@pytest.mark.parametrize(
    "text", ["Refunds? I want to talk to a human", "Refunds: ein Mensch bitte"]
)
def test_handoff_when_the_visitor_asks_for_a_person(
    leadiosa: TestClient, fast: Settings, settings: Settings, chat: ChatProvider, text: str
) -> None:
    publish(leadiosa)
    configure(leadiosa, chat)
    conversation_id = visitor_says(leadiosa, text)
    run_worker_until(fast, lambda: bool(waiting(settings, conversation_id)))
    assert waiting(settings, conversation_id) == [{"handoff_reason": "asked_for_person"}]
    assert chat.requests == []
    assert len(thread(leadiosa, conversation_id)) == 1


def test_handoff_at_the_token_limit(
    leadiosa: TestClient, fast: Settings, settings: Settings, chat: ChatProvider
) -> None:
    publish(leadiosa)
    configure(leadiosa, chat, monthly_token_limit=TOKENS)
    first = visitor_says(leadiosa, "How long do refunds take?")
    run_worker_until(fast, lambda: len(thread(leadiosa, first)) == 2)
    # The first answer spent the month's tokens: the next conversation goes to a person.
    second = visitor_says(leadiosa, "How long do refunds take?")
    run_worker_until(fast, lambda: bool(waiting(settings, second)))
    assert waiting(settings, second) == [{"handoff_reason": "token_limit"}]
    assert len(chat.requests) == 1
    assert len(thread(leadiosa, second)) == 1


def test_provider_error_hands_off_and_keeps_the_message(
    leadiosa: TestClient, fast: Settings, settings: Settings, chat: ChatProvider
) -> None:
    publish(leadiosa)
    configure(leadiosa, chat)
    chat.fail = True
    conversation_id = visitor_says(leadiosa, "How long do refunds take?")
    run_worker_until(fast, lambda: bool(waiting(settings, conversation_id)))
    assert waiting(settings, conversation_id) == [{"handoff_reason": "provider_error"}]
    [message] = thread(leadiosa, conversation_id)
    assert message["text"] == "How long do refunds take?"


def test_switched_off_for_a_conversation(
    leadiosa: TestClient, fast: Settings, settings: Settings, chat: ChatProvider
) -> None:
    publish(leadiosa)
    configure(leadiosa, chat)
    conversation_id = visitor_says(leadiosa, "hello")
    run_worker_until(fast, lambda: no_jobs_left(settings))
    answer = leadiosa.post(
        f"/api/v1/conversations/{conversation_id}/assistant", json={"enabled": False}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["data"]["enabled"] is False
    posted = leadiosa.post(
        f"/api/v1/conversations/{conversation_id}/messages",
        json={"text": "How long do refunds take?", "author": "contact"},
    )
    assert posted.status_code == 201, posted.text
    run_worker_until(fast, lambda: no_jobs_left(settings))
    assert chat.requests == []
    assert [m["author"] for m in thread(leadiosa, conversation_id)] == ["contact", "contact"]


def test_off_by_default_and_the_key_is_never_returned(
    leadiosa: TestClient, settings: Settings, chat: ChatProvider
) -> None:
    shown = leadiosa.get("/api/v1/assistant").json()["data"]
    assert shown["enabled"] is False
    assert shown["has_api_key"] is False
    assert shown["mode"] == "answer_when_offline"

    changed = configure(leadiosa, chat)
    assert changed["has_api_key"] is True
    assert KEY not in json.dumps(changed)
    assert KEY not in leadiosa.get("/api/v1/assistant").text
    [row] = fetch_rows(settings, "SELECT api_key FROM assistant_settings")
    assert row["api_key"]
    assert KEY not in row["api_key"]

    # Enabling needs a base URL and a model; a bad mode or URL is refused.
    error_of(leadiosa.patch("/api/v1/assistant", json={"mode": "always"}), 400, "validation_error")
    error_of(
        leadiosa.patch("/api/v1/assistant", json={"base_url": "ftp://x"}), 400, "validation_error"
    )
    error_of(leadiosa.patch("/api/v1/assistant", json={"base_url": ""}), 400, "validation_error")
    assert leadiosa.get("/api/v1/assistant").json()["data"]["base_url"] == chat.url


def test_an_operator_online_answers_instead_but_drafts_still_come(
    leadiosa: TestClient, fast: Settings, settings: Settings, chat: ChatProvider
) -> None:
    make_person(settings, "ops@example.com", availability="online")
    publish(leadiosa)
    configure(leadiosa, chat)
    quiet = visitor_says(leadiosa, "How long do refunds take?")
    run_worker_until(fast, lambda: no_jobs_left(settings))
    assert chat.requests == []
    assert len(thread(leadiosa, quiet)) == 1
    assert waiting(settings, quiet) == []

    configure(leadiosa, chat, mode="suggest_drafts")
    drafted = visitor_says(leadiosa, "How long do refunds take?")
    url = f"/api/v1/conversations/{drafted}/drafts"
    run_worker_until(fast, lambda: bool(leadiosa.get(url).json()["data"]))
    assert len(thread(leadiosa, drafted)) == 1


def test_the_widget_visitor_gets_the_answer(
    client: TestClient, leadiosa: TestClient, fast: Settings, settings: Settings, chat: ChatProvider
) -> None:
    make_site(settings, "acme", "shop.example")
    publish(leadiosa)
    configure(leadiosa, chat)
    page = {"Origin": "https://shop.example"}
    started = client.post(
        "/widget/v1/acme/conversations", json={"text": "Hello there"}, headers=page
    )
    assert started.status_code == 200, started.text
    data = started.json()["data"]
    seen = {**page, "X-Widget-Token": data["token"]}
    url = f"/widget/v1/acme/conversations/{data['conversation_id']}/messages"
    # Nothing in the knowledge base about a greeting: handed to a person.
    run_worker_until(fast, lambda: bool(waiting(settings, data["conversation_id"])))
    again = leadiosa.post(
        f"/api/v1/conversations/{data['conversation_id']}/assistant", json={"enabled": True}
    )
    assert again.json()["data"]["waiting_for_human"] is False

    sent = client.post(url, json={"text": "How long do refunds take?"}, headers=seen)
    assert sent.status_code == 200, sent.text

    def answered() -> bool:
        listed = client.get(url, params={"after": "0"}, headers=seen).json()["data"]["messages"]
        return any(message["from"] == "ai" for message in listed)

    run_worker_until(fast, answered)
    listed = client.get(url, params={"after": "0"}, headers=seen).json()["data"]["messages"]
    assert [message["from"] for message in listed] == ["contact", "contact", "ai"]
    assert "within 30 days" in listed[-1]["text"]


# ------------------------------------------------------------------ sending a draft


def drafted(leadiosa: TestClient, fast: Settings, chat: ChatProvider) -> tuple[str, str]:
    """A conversation and the draft suggested for its first message."""
    publish(leadiosa)
    configure(leadiosa, chat, mode="suggest_drafts")
    conversation_id = visitor_says(leadiosa, "How long do refunds take?")
    url = f"/api/v1/conversations/{conversation_id}/drafts"
    run_worker_until(fast, lambda: bool(leadiosa.get(url).json()["data"]))
    [draft] = leadiosa.get(url).json()["data"]
    return conversation_id, draft["id"]


def send(leadiosa: TestClient, conversation_id: str, draft_id: str, **body: Any) -> tuple[int, Any]:
    answer = leadiosa.post(
        f"/api/v1/conversations/{conversation_id}/drafts/{draft_id}/send",
        json=body or None,
    )
    return answer.status_code, answer.json()


@pytest.mark.usefixtures("hooked")
def test_a_draft_is_sent_once_as_the_operators_message(
    leadiosa: TestClient, fast: Settings, settings: Settings, chat: ChatProvider
) -> None:
    conversation_id, draft_id = drafted(leadiosa, fast, chat)
    [suggested] = leadiosa.get(f"/api/v1/conversations/{conversation_id}/drafts").json()["data"]
    assert "used_at" not in suggested

    status, body = send(leadiosa, conversation_id, draft_id)
    assert status == 201, body
    sent = body["data"]
    assert sent["author"] == "operator"
    assert sent["draft_id"] == draft_id
    assert sent["text"] == suggested["text"]
    assert sent["seq"] == 2
    assert [(m["author"], m["id"]) for m in thread(leadiosa, conversation_id)][1] == (
        "operator",
        sent["id"],
    )
    [used] = leadiosa.get(f"/api/v1/conversations/{conversation_id}/drafts").json()["data"]
    assert used["sent_message_id"] == sent["id"]
    assert used["used_at"]

    # A second send posts nothing.
    again = leadiosa.post(f"/api/v1/conversations/{conversation_id}/drafts/{draft_id}/send")
    assert "was sent already" in error_of(again, 409, "draft_already_sent")["message"]
    assert len(thread(leadiosa, conversation_id)) == 2

    # Announced like any reply, and audited.
    replies = [e for e in events(settings, "message.created") if e["from"] == "operator"]
    assert [e["message_id"] for e in replies] == [sent["id"]]
    [entry] = audit_rows(settings, action="assistant.draft_sent")
    assert entry["target_id"] == draft_id
    assert entry["changes"] == {"message_id": {"before": None, "after": sent["id"]}}


def test_an_edited_draft_is_sent_with_the_operators_text(
    leadiosa: TestClient, fast: Settings, settings: Settings, chat: ChatProvider
) -> None:
    conversation_id, draft_id = drafted(leadiosa, fast, chat)
    status, body = send(leadiosa, conversation_id, draft_id, text="Within 30 days, Ada.")
    assert status == 201, body
    assert body["data"]["text"] == "Within 30 days, Ada."
    [entry] = audit_rows(settings, action="assistant.draft_sent")
    assert entry["changes"]["edited"] == {"before": False, "after": True}


def test_a_draft_of_another_conversation_or_none_is_not_found(
    leadiosa: TestClient, fast: Settings, chat: ChatProvider
) -> None:
    conversation_id, draft_id = drafted(leadiosa, fast, chat)
    other = visitor_says(leadiosa, "Hello")
    for conversation, draft in ((other, draft_id), (conversation_id, "drf_nope")):
        answer = leadiosa.post(f"/api/v1/conversations/{conversation}/drafts/{draft}/send")
        assert answer.status_code == 404, answer.text
    answer = leadiosa.post(
        f"/api/v1/conversations/{conversation_id}/drafts/{draft_id}/send", json={"text": ""}
    )
    error_of(answer, 400, "validation_error")
    assert len(thread(leadiosa, conversation_id)) == 1  # nothing sent, the draft unused
    status, _ = send(leadiosa, conversation_id, draft_id)
    assert status == 201


def test_an_operators_reply_ends_the_wait_for_a_human(
    leadiosa: TestClient, fast: Settings, settings: Settings, chat: ChatProvider
) -> None:
    publish(leadiosa)
    configure(leadiosa, chat)
    conversation_id = visitor_says(leadiosa, "Can I talk to a human?")
    run_worker_until(fast, lambda: bool(waiting(settings, conversation_id)))
    state = leadiosa.post(
        f"/api/v1/conversations/{conversation_id}/assistant", json={"enabled": False}
    )
    assert state.json()["data"]["waiting_for_human"] is True

    # The visitor's next message and the AI's own do not end it; an operator's does.
    url = f"/api/v1/conversations/{conversation_id}/messages"
    assert leadiosa.post(url, json={"text": "Hello?", "author": "contact"}).status_code == 201
    assert leadiosa.post(url, json={"text": "One moment", "author": "ai"}).status_code == 201
    assert waiting(settings, conversation_id) == [{"handoff_reason": "asked_for_person"}]
    assert leadiosa.post(url, json={"text": "Hi, I am Olive."}).status_code == 201
    assert waiting(settings, conversation_id) == []
    rows = fetch_rows(
        settings,
        "SELECT enabled, waiting_for_human, handoff_reason FROM assistant_conversations",
    )
    # The switch stays as the operator left it.
    assert rows == [{"enabled": False, "waiting_for_human": False, "handoff_reason": None}]


def test_a_sent_draft_ends_the_wait_for_a_human(
    leadiosa: TestClient, fast: Settings, settings: Settings, chat: ChatProvider
) -> None:
    conversation_id, draft_id = drafted(leadiosa, fast, chat)
    # Handed off since (the visitor asks for a person): the draft still answers.
    visitor = leadiosa.post(
        f"/api/v1/conversations/{conversation_id}/messages",
        json={"text": "Or a real person please", "author": "contact"},
    )
    assert visitor.status_code == 201
    run_worker_until(fast, lambda: bool(waiting(settings, conversation_id)))
    status, body = send(leadiosa, conversation_id, draft_id)
    assert status == 201, body
    assert waiting(settings, conversation_id) == []
