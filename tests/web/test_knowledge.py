"""Knowledge through the ASGI app: articles created, edited (chunked again), listed, searched
(the matched passage shown, the query's words marked) and deleted through the pages, as the API
sees them; agents read and search but change nothing; marketing people and people signed out
open nothing; another workspace's article is not found; bad input a 400 page that writes
nothing. And the inbox thread page showing the assistant's drafts of its conversation."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from leadline.app import create_app
from leadline.config import Settings
from leadline.kit.time import utcnow
from leadline.web.knowledge import marked
from tests.fixtures.factories import execute_sql, fetch_rows, make_key
from tests.fixtures.inbox import start
from tests.fixtures.leadiosa import bearer
from tests.fixtures.web import (
    cheap_hashing,  # noqa: F401  (a fixture)
    make_member,
    sign_in,
)

pytestmark = pytest.mark.usefixtures("cheap_hashing")

OWNER = "owner@example.com"
PAGE = "/app/knowledge"
BODY = (
    "# Delivery\n\nWe deliver bicycles anywhere in Lisbon within two days.\n\n"
    "# Returns\n\nA bicycle can be returned within 30 days, unridden, for a full refund."
)


@pytest.fixture
def owner(client: TestClient, settings: Settings) -> tuple[TestClient, str]:
    make_member(settings, "acme", OWNER, role="owner")
    return client, sign_in(client, OWNER)


@pytest.fixture
def api(client: TestClient, settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), headers=bearer(make_key(settings, "acme"))) as found:
        yield found


def _post(client: TestClient, path: str, csrf: str | None, **data: str) -> httpx.Response:
    body: dict[str, Any] = dict(data)
    if csrf is not None:
        body["csrf_token"] = csrf
    return client.post(path, data=body, follow_redirects=False)


def _create(client: TestClient, csrf: str, **fields: str) -> httpx.Response:
    form = {"title": "Delivery and returns", "body": BODY, "tags": "shipping, returns"}
    form.update(fields)
    return _post(client, f"{PAGE}/new", csrf, **form)


def _api_article(client: TestClient, settings: Settings, workspace: str) -> str:
    answer = client.post(
        "/api/v1/knowledge",
        json={"title": "Theirs", "body": "Opening hours: nine to five.", "published": True},
        headers=bearer(make_key(settings, workspace)),
    )
    assert answer.status_code == 201, answer.text
    article_id: str = answer.json()["data"]["id"]
    return article_id


def _articles(settings: Settings) -> list[dict[str, Any]]:
    return fetch_rows(settings, "SELECT * FROM knowledge_articles ORDER BY id")


def _posts(article_id: str) -> list[tuple[str, dict[str, str]]]:
    return [
        (f"{PAGE}/new", {"title": "New", "body": "Text"}),
        (f"{PAGE}/{article_id}", {"title": "Renamed", "body": "Other text"}),
        (f"{PAGE}/{article_id}/delete", {}),
    ]


# ------------------------------------------------------------------------------ who may


def test_who_may_open_and_change_the_knowledge_base(client: TestClient, settings: Settings) -> None:
    article_id = _api_article(client, settings, "acme")
    before = _articles(settings)
    for path in (PAGE, f"{PAGE}?q=hours", f"{PAGE}/new", f"{PAGE}/{article_id}"):
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 303, path
        assert answer.headers["location"].startswith("/app/signin?next=/app/knowledge")
    for path, data in _posts(article_id):
        assert _post(client, path, None, **data).status_code == 401, path

    make_member(settings, "acme", OWNER, role="owner")
    sign_in(client, OWNER)
    for path, data in _posts(article_id):
        refused = _post(client, path, None, **data)
        assert refused.status_code == 403, path
        assert "form has expired" in refused.text

    # An agent reads and searches (the API's inbox permission) but changes nothing.
    client.cookies.clear()
    make_member(settings, "acme", "agent@example.com", role="agent")
    csrf = sign_in(client, "agent@example.com")
    assert 'href="/app/knowledge"' in client.get("/app/").text
    listing = client.get(PAGE)
    assert listing.status_code == 200
    assert "Theirs" in listing.text
    assert "New article" not in listing.text
    assert "hours" in client.get(PAGE, params={"q": "hours"}).text
    article = client.get(f"{PAGE}/{article_id}")
    assert article.status_code == 200
    assert "Opening hours" in article.text
    assert 'name="title"' not in article.text
    assert "Delete article" not in article.text
    assert client.get(f"{PAGE}/new").status_code == 403
    for path, data in _posts(article_id):
        assert _post(client, path, csrf, **data).status_code == 403, path

    # A marketing person opens none of it.
    client.cookies.clear()
    make_member(settings, "acme", "mo@example.com", role="marketing")
    csrf = sign_in(client, "mo@example.com")
    assert 'href="/app/knowledge"' not in client.get("/app/").text
    for path in (PAGE, f"{PAGE}/{article_id}"):
        refused = client.get(path)
        assert refused.status_code == 403
        assert "does not open knowledge" in refused.text
    for path, data in _posts(article_id):
        assert _post(client, path, csrf, **data).status_code == 403, path
    assert _articles(settings) == before


def test_another_workspaces_article_is_not_found(
    owner: tuple[TestClient, str], settings: Settings
) -> None:
    client, csrf = owner
    theirs = _api_article(client, settings, "other")
    before = _articles(settings)
    assert client.get(f"{PAGE}/{theirs}").status_code == 404
    for path, data in _posts(theirs)[1:]:
        assert _post(client, path, csrf, **data).status_code == 404, path
    assert "Theirs" not in client.get(PAGE).text
    assert "Theirs" not in client.get(PAGE, params={"q": "opening hours"}).text
    for bad in ("kb_%00", "x" * 65, "kb_nope"):
        assert client.get(f"{PAGE}/{bad}").status_code == 404
    assert _articles(settings) == before


# ------------------------------------------------------------------------------ articles


def test_an_owner_writes_edits_and_deletes_an_article(
    owner: tuple[TestClient, str], settings: Settings, api: TestClient
) -> None:
    client, csrf = owner
    empty = client.get(PAGE)
    assert "No article yet" in empty.text
    assert 'href="/app/knowledge/new"' in empty.text
    assert client.get(f"{PAGE}/new").status_code == 200

    made = _create(client, csrf)
    assert made.status_code == 303, made.text
    [row] = _articles(settings)
    assert made.headers["location"] == f"{PAGE}/{row['id']}?done=created"
    page = client.get(made.headers["location"])
    assert "The article was created." in page.text
    assert "within 30 days" in page.text
    assert 'value="shipping, returns"' in page.text

    through_api = api.get(f"/api/v1/knowledge/{row['id']}").json()["data"]
    assert through_api["title"] == "Delivery and returns"
    assert through_api["tags"] == ["shipping", "returns"]
    assert through_api["published"] is False
    chunks = api.get(f"/api/v1/knowledge/{row['id']}/chunks").json()["data"]
    assert chunks
    assert all(piece["text"] in html.unescape(page.text) for piece in chunks)

    # Published now, and a new body: chunked again.
    saved = _post(
        client,
        f"{PAGE}/{row['id']}",
        csrf,
        title="Delivery",
        body="We deliver anywhere in Porto too.",
        tags="shipping",
        published="on",
    )
    assert saved.status_code == 303
    assert saved.headers["location"] == f"{PAGE}/{row['id']}?done=saved"
    through_api = api.get(f"/api/v1/knowledge/{row['id']}").json()["data"]
    assert (through_api["title"], through_api["published"]) == ("Delivery", True)
    chunks = api.get(f"/api/v1/knowledge/{row['id']}/chunks").json()["data"]
    assert [piece["text"] for piece in chunks] == ["We deliver anywhere in Porto too."]
    listing = client.get(PAGE).text
    assert "Delivery" in listing
    assert 'badge warn">draft<' not in listing
    assert client.get(PAGE, params={"shown": "drafts"}).text.count('href="/app/knowledge/kb') == 0
    assert "Delivery" in client.get(PAGE, params={"shown": "published"}).text
    audited = fetch_rows(settings, "SELECT action FROM audit_events WHERE target_type = 'article'")
    assert [row["action"] for row in audited] == [
        "knowledge.article_created",
        "knowledge.article_updated",
    ]

    deleted = _post(client, f"{PAGE}/{row['id']}/delete", csrf)
    assert deleted.status_code == 303
    assert deleted.headers["location"] == f"{PAGE}?done=deleted"
    assert "The article was deleted." in client.get(deleted.headers["location"]).text
    assert _articles(settings) == []
    assert fetch_rows(settings, "SELECT id FROM knowledge_chunks") == []
    assert api.get(f"/api/v1/knowledge/{row['id']}").status_code == 404


def test_articles_page_newest_first(owner: tuple[TestClient, str], settings: Settings) -> None:
    client, csrf = owner
    for number in range(27):
        assert _create(client, csrf, title=f"Article {number:02d}").status_code == 303
    first = client.get(PAGE).text
    assert first.count('href="/app/knowledge/kb') == 25
    assert "Article 26" in first
    assert "Article 00" not in first
    found = re.search(r'href="(/app/knowledge\?after=[^"]+)">Older articles', first)
    assert found is not None
    second = client.get(html.unescape(found.group(1))).text
    assert second.count('href="/app/knowledge/kb') == 2
    assert "Article 00" in second
    assert "Older articles" not in second
    assert client.get(PAGE, params={"after": "not-a-cursor"}).status_code == 400


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"title": ""}, "title must not be empty"),
        ({"title": "t" * 301}, "longer than 300"),
        ({"tags": ",".join(f"t{n}" for n in range(21))}, "at most 20 tags"),
        ({"tags": "x" * 51}, "each tag is 1-50 characters"),
        ({"body": "a\x00b"}, "NUL"),
    ],
)
def test_a_bad_article_is_a_400_page_that_writes_nothing(
    owner: tuple[TestClient, str], settings: Settings, fields: dict[str, str], words: str
) -> None:
    client, csrf = owner
    refused = _create(client, csrf, **fields)
    assert refused.status_code == 400, refused.text
    assert words.lower() in html.unescape(refused.text).lower()
    assert _articles(settings) == []
    assert fetch_rows(settings, "SELECT id FROM knowledge_chunks") == []


# ------------------------------------------------------------------------------ search


def test_search_shows_the_matched_passage_with_the_words_marked(
    owner: tuple[TestClient, str], settings: Settings
) -> None:
    client, csrf = owner
    assert _create(client, csrf, published="on").status_code == 303
    assert _create(client, csrf, title="Secret draft", body="Refund codes for staff").status_code
    found = client.get(PAGE, params={"q": "Can I get a refund?"})
    assert found.status_code == 200
    text = found.text
    assert re.search(r"\d+ passages? found", text)
    assert "Delivery and returns" in text
    assert "<mark>refund</mark>" in text
    assert "Secret draft" not in text  # drafts are not searched
    assert "BM25" in text
    nothing = client.get(PAGE, params={"q": "zeppelin"})
    assert "Nothing found" in nothing.text
    # The query is shown back escaped, never as markup.
    shown = client.get(PAGE, params={"q": "<script>refund</script>"})
    assert "<script>refund" not in shown.text
    assert "&lt;script&gt;refund" in shown.text
    assert client.get(PAGE, params={"q": "x" * 501}).status_code == 400


def test_marking_escapes_the_text_and_marks_whole_words_only() -> None:
    assert str(marked("Refunds & refund <b>", ["refund"])) == (
        "Refunds &amp; <mark>refund</mark> &lt;b&gt;"
    )
    assert str(marked("a <i>", [])) == "a &lt;i&gt;"


# ------------------------------------------------------------------------------ drafts


def test_the_thread_shows_the_assistants_drafts(
    owner: tuple[TestClient, str], settings: Settings, api: TestClient
) -> None:
    client, _ = owner
    conversation = start(api, text="Can I return it?")
    page = client.get(f"/app/inbox/{conversation['id']}")
    assert page.status_code == 200
    assert "AI drafts" not in page.text
    workspace_id = fetch_rows(settings, "SELECT id FROM workspaces WHERE slug = 'acme'")[0]["id"]
    for number, text in enumerate(("Within 30 days, <unridden>.", "Yes: within 30 days.")):
        execute_sql(
            settings,
            "INSERT INTO assistant_drafts (id, workspace_id, conversation_id, message_id, text,"
            " citations, created_at) VALUES (:id, :ws, :conv, :msg, :text, '[]', :at)",
            id=f"drf_{number}",
            ws=workspace_id,
            conv=conversation["id"],
            msg="msg_x",
            text=text,
            at=utcnow(),
        )
    page = client.get(f"/app/inbox/{conversation['id']}")
    assert "AI drafts" in page.text
    assert "Within 30 days, &lt;unridden&gt;." in page.text
    assert page.text.index("Within 30 days, &lt;") < page.text.index("Yes: within 30 days.")
    assert "Nothing is sent" in page.text
    # Another workspace's conversation (with its drafts) stays not found.
    with TestClient(create_app(settings), headers=bearer(make_key(settings, "other"))) as other:
        theirs = start(other, text="Hello")
    assert client.get(f"/app/inbox/{theirs['id']}").status_code == 404


def test_an_operator_sends_a_draft_once_as_edited(
    owner: tuple[TestClient, str], settings: Settings, api: TestClient
) -> None:
    client, csrf = owner
    conversation = start(api, text="Can I return it?")
    workspace_id = fetch_rows(settings, "SELECT id FROM workspaces WHERE slug = 'acme'")[0]["id"]
    execute_sql(
        settings,
        "INSERT INTO assistant_drafts (id, workspace_id, conversation_id, message_id, text,"
        " citations, created_at) VALUES ('drf_send', :ws, :conv, 'msg_x', :text, '[]', :at)",
        ws=workspace_id,
        conv=conversation["id"],
        text="Within 30 days.",
        at=utcnow(),
    )
    thread = f"/app/inbox/{conversation['id']}"
    assert "Send this draft" in client.get(thread).text
    sent = _post(
        client, f"{thread}/send_draft", csrf, draft_id="drf_send", text="Within 30 days, yes."
    )
    assert sent.status_code == 303, sent.text
    messages = api.get(f"/api/v1/conversations/{conversation['id']}/messages").json()["data"]
    assert [m["text"] for m in messages][-1] == "Within 30 days, yes."
    assert messages[-1]["author"] == "operator"
    page = client.get(thread).text
    assert "Send this draft" not in page
    assert "; sent" in page
    # A second send posts nothing more.
    again = _post(client, f"{thread}/send_draft", csrf, draft_id="drf_send", text="Again")
    assert again.status_code == 409
    messages = api.get(f"/api/v1/conversations/{conversation['id']}/messages").json()["data"]
    assert [m["text"] for m in messages].count("Again") == 0
    # Without the form's token nothing is sent.
    assert _post(client, f"{thread}/send_draft", None, draft_id="drf_send").status_code == 403
