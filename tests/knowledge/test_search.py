"""Search quality on a small help centre with known answers: recall@5, lexical and hybrid.

recall@5 is the share of questions whose answering article is among the articles of the five
best chunks. docs/knowledge.md records the figures these tests print (run with ``-s``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from leadline.app import create_app
from leadline.config import Settings
from tests.fixtures import embeddings
from tests.fixtures.factories import fetch_rows, make_key
from tests.fixtures.jobs import run_worker_until
from tests.fixtures.leadiosa import bearer
from tests.knowledge.corpus import ARTICLES, QUERIES

# What the corpus scores today (docs/knowledge.md); a change to chunking or ranking that
# scores less fails here.
LEXICAL_FLOOR = 0.5
HYBRID_FLOOR = 0.9


def load(api: TestClient) -> dict[str, str]:
    """The corpus, published; article id by corpus name."""
    ids = {}
    for name, (title, body) in ARTICLES.items():
        made = api.post("/api/v1/knowledge", json={"title": title, "body": body, "published": True})
        assert made.status_code == 201, made.text
        ids[made.json()["data"]["id"]] = name
    return ids


def recall_at_5(api: TestClient, names: dict[str, str], mode: str) -> tuple[float, list[str]]:
    found = 0
    missed = []
    for question, answer in QUERIES:
        got = api.get("/api/v1/knowledge/search", params={"q": question, "limit": 5})
        assert got.status_code == 200, got.text
        assert got.json()["mode"] == mode
        if answer in {names[hit["article_id"]] for hit in got.json()["data"]}:
            found += 1
        else:
            missed.append(question)
    return found / len(QUERIES), missed


def test_lexical_recall(settings: Settings, client: TestClient, admin_key: str) -> None:
    client.headers.update(bearer(admin_key))
    names = load(client)
    recall, missed = recall_at_5(client, names, "lexical")
    backend = settings.database_url.split(":", 1)[0].split("+", 1)[0]
    print(f"\nlexical recall@5 on {backend}: {recall:.2f}; missed: {missed}")
    assert recall >= LEXICAL_FLOOR
    # Every question that shares a word with its answer finds it.
    assert not set(missed) & {question for question, _ in QUERIES[:13]}


@pytest.fixture
def provider() -> Iterator[embeddings.Provider]:
    with embeddings.embeddings_server() as served:
        yield served


@pytest.fixture
def hybrid_settings(settings: Settings, provider: embeddings.Provider) -> Settings:
    return Settings(
        database_url=settings.database_url,
        embeddings_url=provider.url,
        embeddings_model=embeddings.MODEL,
        embeddings_key=embeddings.KEY,
    )


def _unembedded(settings: Settings) -> int:
    rows = fetch_rows(
        settings, "SELECT count(*) AS n FROM knowledge_chunks WHERE embedding IS NULL"
    )
    return int(rows[0]["n"])


def test_hybrid_recall(hybrid_settings: Settings, provider: embeddings.Provider) -> None:
    with TestClient(create_app(hybrid_settings)) as api:
        api.headers.update(bearer(make_key(hybrid_settings, "acme", "admin")))
        names = load(api)
        # Nothing is embedded in the request: the jobs do it after commit.
        assert provider.requests == []
        assert _unembedded(hybrid_settings) > 0
        run_worker_until(hybrid_settings, lambda: _unembedded(hybrid_settings) == 0)
        chunks = api.get(f"/api/v1/knowledge/{next(iter(names))}/chunks").json()["data"]
        assert all(item["embedded"] for item in chunks)
        recall, missed = recall_at_5(api, names, "hybrid")
        backend = hybrid_settings.database_url.split(":", 1)[0].split("+", 1)[0]
        print(f"\nhybrid recall@5 on {backend}: {recall:.2f}; missed: {missed}")
        assert recall >= HYBRID_FLOOR
        with TestClient(create_app(Settings(database_url=hybrid_settings.database_url))) as plain:
            plain.headers.update(api.headers)
            lexical, _ = recall_at_5(plain, names, "lexical")
        assert recall > lexical


def test_an_edit_is_embedded_again(
    hybrid_settings: Settings, provider: embeddings.Provider
) -> None:
    with TestClient(create_app(hybrid_settings)) as api:
        api.headers.update(bearer(make_key(hybrid_settings, "acme", "admin")))
        made = api.post(
            "/api/v1/knowledge",
            json={"title": "Refunds", "body": "Refunds within 30 days.", "published": True},
        ).json()["data"]
        run_worker_until(hybrid_settings, lambda: _unembedded(hybrid_settings) == 0)
        api.patch(f"/api/v1/knowledge/{made['id']}", json={"body": "Parcels leave daily."})
        chunks = api.get(f"/api/v1/knowledge/{made['id']}/chunks").json()["data"]
        assert [item["embedded"] for item in chunks] == [False]
        run_worker_until(hybrid_settings, lambda: _unembedded(hybrid_settings) == 0)
        sent: list[Any] = [request["input"] for request in provider.requests]
        assert sent == [["Refunds within 30 days."], ["Parcels leave daily."]]
        # "courier" is not in the text; its vector finds the chunk.
        hits = api.get("/api/v1/knowledge/search", params={"q": "courier"}).json()["data"]
        assert [hit["article_id"] for hit in hits] == [made["id"]]


def test_a_failing_provider_leaves_search_lexical(
    hybrid_settings: Settings, provider: embeddings.Provider
) -> None:
    with TestClient(create_app(hybrid_settings)) as api:
        api.headers.update(bearer(make_key(hybrid_settings, "acme", "admin")))
        made = api.post(
            "/api/v1/knowledge",
            json={"title": "Refunds", "body": "Refunds within 30 days.", "published": True},
        ).json()["data"]
        provider.fail = True

        def retried() -> list[dict[str, Any]]:
            return fetch_rows(
                hybrid_settings,
                "SELECT state, last_error FROM jobs WHERE kind = 'knowledge.embed' "
                "AND attempts > 0",
            )

        # The job that embeds the chunks waits for the provider, and tries again later.
        run_worker_until(hybrid_settings, lambda: bool(retried()))
        assert [row["state"] for row in retried()] == ["queued"]
        assert "503" in str(retried()[0]["last_error"])
        assert _unembedded(hybrid_settings) == 1
        hits = api.get("/api/v1/knowledge/search", params={"q": "refunds"})
        assert hits.status_code == 200
        assert [hit["article_id"] for hit in hits.json()["data"]] == [made["id"]]
        assert api.get("/api/v1/knowledge/search", params={"q": "courier"}).json()["data"] == []
