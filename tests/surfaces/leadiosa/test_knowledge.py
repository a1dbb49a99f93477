"""/api/v1/knowledge: articles, their chunks, search, workspaces and roles."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from leadline.config import Settings
from leadline.knowledge.chunking import TARGET
from tests.fixtures.factories import fetch_rows, make_key
from tests.fixtures.leadiosa import bearer, error_of
from tests.fixtures.people import make_person, person_with_token


def create(api: TestClient, **body: Any) -> dict[str, Any]:
    answer = api.post("/api/v1/knowledge", json=body)
    assert answer.status_code == 201, answer.text
    found: dict[str, Any] = answer.json()["data"]
    return found


def chunks(api: TestClient, article_id: str, **params: Any) -> list[dict[str, Any]]:
    answer = api.get(f"/api/v1/knowledge/{article_id}/chunks", params=params)
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()["data"]
    return found


def search(api: TestClient, q: str, **params: Any) -> list[dict[str, Any]]:
    answer = api.get("/api/v1/knowledge/search", params={"q": q, **params})
    assert answer.status_code == 200, answer.text
    assert answer.json()["mode"] == "lexical"
    found: list[dict[str, Any]] = answer.json()["data"]
    return found


LONG = "# Shipping\n\n" + " ".join(
    f"Parcel rule {n}: orders leave the warehouse within a day." for n in range(60)
)


def test_create_read_list_update_delete(leadiosa: TestClient) -> None:
    article = create(
        leadiosa,
        title=" Refunds ",
        body="# Refunds\n\nWithin 30 days.",
        tags=["billing", "billing"],
    )
    assert article["id"].startswith("kb_")
    assert article["title"] == "Refunds"
    assert article["tags"] == ["billing"]
    assert article["published"] is False
    assert article["created_at"].endswith("Z")
    assert len(article["created_at"]) == 24
    assert leadiosa.get(f"/api/v1/knowledge/{article['id']}").json()["data"] == article

    # An empty body and no tags are left out, not null.
    bare = create(leadiosa, title="Draft")
    assert "body" not in bare
    assert "tags" not in bare

    listed = leadiosa.get("/api/v1/knowledge").json()
    assert [item["id"] for item in listed["data"]] == [bare["id"], article["id"]]
    assert "body" not in listed["data"][1]
    assert listed["pagination"] == {"has_more": False}
    first = leadiosa.get("/api/v1/knowledge", params={"limit": 1}).json()
    assert first["pagination"]["has_more"] is True
    rest = leadiosa.get(
        "/api/v1/knowledge", params={"limit": 1, "after": first["pagination"]["next_cursor"]}
    ).json()
    assert [item["id"] for item in rest["data"]] == [article["id"]]

    changed = leadiosa.patch(
        f"/api/v1/knowledge/{article['id']}", json={"published": True, "tags": []}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["data"]["published"] is True
    assert "tags" not in changed.json()["data"]
    published = leadiosa.get("/api/v1/knowledge", params={"published": "true"}).json()
    assert [item["id"] for item in published["data"]] == [article["id"]]

    audit = leadiosa.get("/api/v1/audit").json()["data"]
    actions = [(event["action"], event["target"].get("id")) for event in audit]
    assert ("knowledge.article_created", article["id"]) in actions
    updated = next(event for event in audit if event["action"] == "knowledge.article_updated")
    assert updated["changes"] == {
        "published": {"before": False, "after": True},
        "tags": {"before": ["billing"]},
    }

    gone = leadiosa.delete(f"/api/v1/knowledge/{article['id']}")
    assert gone.json() == {"data": {"id": article["id"], "deleted": True}}
    error_of(leadiosa.get(f"/api/v1/knowledge/{article['id']}"), 404, "article_not_found")
    error_of(leadiosa.delete(f"/api/v1/knowledge/{article['id']}"), 404, "article_not_found")
    assert search(leadiosa, "refunds") == []


def test_chunks_on_save_and_again_on_edit(leadiosa: TestClient, settings: Settings) -> None:
    article = create(leadiosa, title="Shipping", body=LONG, published=True)
    made = chunks(leadiosa, article["id"], limit=100)
    assert len(made) > 2
    assert [item["position"] for item in made] == list(range(len(made)))
    assert all(item["id"].startswith("kbc_") and len(item["text"]) <= TARGET for item in made)
    assert all(item["embedded"] is False for item in made)
    # Pages of chunks.
    first = leadiosa.get(f"/api/v1/knowledge/{article['id']}/chunks", params={"limit": 2}).json()
    assert [item["id"] for item in first["data"]] == [item["id"] for item in made[:2]]
    after = first["pagination"]["next_cursor"]
    rest = chunks(leadiosa, article["id"], after=after, limit=100)
    assert [item["id"] for item in rest] == [item["id"] for item in made[2:]]

    # A new title alone keeps the chunks; a new body replaces them.
    leadiosa.patch(f"/api/v1/knowledge/{article['id']}", json={"title": "Delivery"})
    assert chunks(leadiosa, article["id"], limit=100) == made
    assert search(leadiosa, "warehouse")
    leadiosa.patch(
        f"/api/v1/knowledge/{article['id']}", json={"body": "# Pickup\n\nCollect in store."}
    )
    remade = chunks(leadiosa, article["id"])
    assert [item["text"] for item in remade] == ["Pickup\n\nCollect in store."]
    assert search(leadiosa, "warehouse") == []
    assert [hit["chunk_id"] for hit in search(leadiosa, "collect")] == [remade[0]["id"]]
    stored = fetch_rows(settings, "SELECT count(*) AS n FROM knowledge_chunks")
    assert stored[0]["n"] == 1


def test_search_finds_published_chunks_best_first(leadiosa: TestClient) -> None:
    refunds = create(
        leadiosa,
        title="Refunds",
        body="# Refunds\n\nRefunds take five days. A refund goes to the card you paid with.",
        published=True,
    )
    create(
        leadiosa,
        title="Shipping",
        body="# Shipping\n\nShipping is free above 50 euros; returns are refunded.",
        published=True,
    )
    draft = create(leadiosa, title="Refund draft", body="Refund refund refund.", published=False)
    hits = search(leadiosa, "How long do refunds take?")
    assert hits[0]["article_id"] == refunds["id"]
    assert draft["id"] not in {hit["article_id"] for hit in hits}
    assert hits[0]["title"] == "Refunds"
    assert hits[0]["score"] > hits[-1]["score"] or len(hits) == 1
    assert set(hits[0]) == {"article_id", "title", "chunk_id", "position", "text", "score"}
    assert len(search(leadiosa, "refund", limit=1)) == 1
    # Words only: quotes, operators and punctuation are no syntax.
    assert search(leadiosa, '"refund" OR NEAR(x) * -')
    assert search(leadiosa, "!!! ???") == []
    # Publishing a draft makes it searchable.
    leadiosa.patch(f"/api/v1/knowledge/{draft['id']}", json={"published": True})
    assert draft["id"] in {hit["article_id"] for hit in search(leadiosa, "refund")}
    error_of(leadiosa.get("/api/v1/knowledge/search"), 400, "validation_error")
    error_of(leadiosa.get("/api/v1/knowledge/search", params={"q": ""}), 400, "validation_error")
    error_of(
        leadiosa.get("/api/v1/knowledge/search", params={"q": "x", "limit": 51}),
        400,
        "validation_error",
    )


def test_another_workspace_sees_nothing(
    settings: Settings, client: TestClient, admin_key: str
) -> None:
    ours = client.post(
        "/api/v1/knowledge",
        json={"title": "Refunds", "body": "Refunds within 30 days.", "published": True},
        headers=bearer(admin_key),
    ).json()["data"]
    other = bearer(make_key(settings, "other", "admin"))
    for method, path in (
        ("GET", f"/api/v1/knowledge/{ours['id']}"),
        ("GET", f"/api/v1/knowledge/{ours['id']}/chunks"),
        ("PATCH", f"/api/v1/knowledge/{ours['id']}"),
        ("DELETE", f"/api/v1/knowledge/{ours['id']}"),
    ):
        body = {"title": "Mine"} if method == "PATCH" else None
        answer = client.request(method, path, json=body, headers=other)
        error_of(answer, 404, "article_not_found")
    listed = client.get("/api/v1/knowledge", headers=other).json()
    assert listed["data"] == []
    theirs = client.post(
        "/api/v1/knowledge",
        json={"title": "Refunds", "body": "Refunds never.", "published": True},
        headers=other,
    ).json()["data"]
    found = client.get("/api/v1/knowledge/search", params={"q": "refunds"}, headers=other)
    assert [hit["article_id"] for hit in found.json()["data"]] == [theirs["id"]]
    mine = client.get(
        "/api/v1/knowledge/search", params={"q": "refunds"}, headers=bearer(admin_key)
    )
    assert [hit["article_id"] for hit in mine.json()["data"]] == [ours["id"]]


def test_agents_read_and_admins_write(
    settings: Settings, client: TestClient, admin_key: str
) -> None:
    made = client.post(
        "/api/v1/knowledge",
        json={"title": "Refunds", "body": "Within 30 days.", "published": True},
        headers=bearer(admin_key),
    )
    article = made.json()["data"]
    # The workspace's first person is its owner.
    make_person(settings, "acme", "owner@example.com", role="owner")
    _, agent_token = person_with_token(settings, "acme", "agent@example.com", "agent")
    agent = bearer(agent_token)
    assert client.get(f"/api/v1/knowledge/{article['id']}", headers=agent).status_code == 200
    assert client.get("/api/v1/knowledge/search?q=days", headers=agent).status_code == 200
    assert client.get(f"/api/v1/knowledge/{article['id']}/chunks", headers=agent).status_code == 200
    error_of(
        client.post("/api/v1/knowledge", json={"title": "Mine"}, headers=agent), 403, "forbidden"
    )
    error_of(
        client.patch(f"/api/v1/knowledge/{article['id']}", json={"title": "x"}, headers=agent),
        403,
        "forbidden",
    )
    error_of(client.delete(f"/api/v1/knowledge/{article['id']}", headers=agent), 403, "forbidden")
    _, admin_token = person_with_token(settings, "acme", "admin@example.com", "admin")
    made = client.post("/api/v1/knowledge", json={"title": "Mine"}, headers=bearer(admin_token))
    assert made.status_code == 201, made.text
    marketing = bearer(make_key(settings, "acme", "marketing"))
    error_of(client.get("/api/v1/knowledge", headers=marketing), 403, "forbidden")


def test_bad_input_is_refused(leadiosa: TestClient) -> None:
    for body in (
        {},
        {"title": ""},
        {"title": "   "},
        {"title": "x" * 301},
        {"title": "ok", "tags": [""]},
        {"title": "ok", "tags": ["x"] * 21},
        {"title": "ok", "published": "yes"},
        {"title": "ok", "unknown": 1},
        {"title": "a\x00b"},
        {"title": "ok", "body": "a\x00b"},
    ):
        error_of(leadiosa.post("/api/v1/knowledge", json=body), 400, "validation_error")
    article = create(leadiosa, title="Refunds")
    error_of(
        leadiosa.patch(f"/api/v1/knowledge/{article['id']}", json={"title": " "}),
        400,
        "validation_error",
    )
    error_of(leadiosa.get("/api/v1/knowledge/kb_nope"), 404, "article_not_found")
    error_of(
        leadiosa.get("/api/v1/knowledge", params={"after": "cur_nonsense"}), 400, "invalid_cursor"
    )
