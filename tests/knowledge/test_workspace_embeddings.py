"""A workspace's own embeddings provider for knowledge search, set through the assistant's
settings (the key sealed, never returned), falling back to the instance's; a change of model
re-embeds the workspace's chunks in a job whose progress the settings show."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from leadline.app import create_app
from leadline.config import Settings
from tests.fixtures import embeddings
from tests.fixtures.audit import audit_rows
from tests.fixtures.factories import fetch_rows, make_key
from tests.fixtures.jobs import run_worker_until
from tests.fixtures.leadiosa import bearer, error_of
from tests.knowledge.test_search import load


@pytest.fixture
def provider() -> Iterator[embeddings.Provider]:
    with embeddings.embeddings_server() as served:
        yield served


@pytest.fixture
def leadiosa(client: TestClient, admin_key: str) -> TestClient:
    client.headers.update(bearer(admin_key))
    return client


@pytest.fixture
def fast(settings: Settings) -> Settings:
    return Settings(database_url=settings.database_url, jobs_poll_seconds=0.05)


def settings_of(api: TestClient) -> dict[str, Any]:
    answer = api.get("/api/v1/assistant")
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()["data"]["embeddings"]
    return found


def set_provider(api: TestClient, **given: str) -> dict[str, Any]:
    answer = api.patch("/api/v1/assistant", json={"embeddings": given})
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()["data"]["embeddings"]
    return found


def models(settings: Settings) -> set[str | None]:
    rows = fetch_rows(settings, "SELECT embedding_model FROM knowledge_chunks")
    return {row["embedding_model"] for row in rows}


def test_a_workspace_provider_re_embeds_in_a_job_and_makes_search_hybrid(
    leadiosa: TestClient, fast: Settings, settings: Settings, provider: embeddings.Provider
) -> None:
    load(leadiosa)
    before = settings_of(leadiosa)
    assert before == {
        "source": "none",
        "has_api_key": False,
        "reembedding": {"state": "idle", "done": 0, "total": 0},
    }
    search = {"q": "where is my parcel", "limit": 5}
    assert leadiosa.get("/api/v1/knowledge/search", params=search).json()["mode"] == "lexical"

    shown = set_provider(
        leadiosa, base_url=provider.url, model=embeddings.MODEL, api_key=embeddings.KEY
    )
    total = shown["reembedding"]["total"]
    assert total > 0
    assert shown == {
        "source": "workspace",
        "base_url": provider.url,
        "model": embeddings.MODEL,
        "has_api_key": True,
        "reembedding": {"state": "queued", "done": 0, "total": total},
    }
    assert provider.requests == []  # nothing embedded in the request
    [sealed] = fetch_rows(settings, "SELECT embeddings_key FROM knowledge_settings")
    assert embeddings.KEY not in sealed["embeddings_key"]
    [entry] = audit_rows(settings, action="knowledge.embeddings_updated")
    assert entry["changes"]["api_key"] == {"before": None, "after": "[sealed]"}

    run_worker_until(fast, lambda: settings_of(leadiosa)["reembedding"]["state"] == "done")
    assert settings_of(leadiosa)["reembedding"] == {"state": "done", "done": total, "total": total}
    assert models(settings) == {embeddings.MODEL}
    hybrid = leadiosa.get("/api/v1/knowledge/search", params=search)
    assert hybrid.json()["mode"] == "hybrid"

    # Another model: every chunk again, from none done.
    again = set_provider(leadiosa, model="toy-embed-2")
    assert again["reembedding"] == {"state": "queued", "done": 0, "total": total}
    run_worker_until(fast, lambda: settings_of(leadiosa)["reembedding"]["state"] == "done")
    assert models(settings) == {"toy-embed-2"}
    assert settings_of(leadiosa)["reembedding"]["done"] == total

    # The URL alone changes nothing to re-embed; an article saved now is embedded by it.
    assert set_provider(leadiosa, base_url=provider.url)["reembedding"]["state"] == "done"
    made = leadiosa.post(
        "/api/v1/knowledge", json={"title": "Gift cards", "body": "Gift cards never expire."}
    )
    assert made.status_code == 201
    article = made.json()["data"]["id"]
    url = f"/api/v1/knowledge/{article}/chunks"
    run_worker_until(fast, lambda: all(c["embedded"] for c in leadiosa.get(url).json()["data"]))

    # Empty: back to the instance's provider (none here), the key kept until removed.
    gone = set_provider(leadiosa, base_url="", model="")
    assert gone["source"] == "none"
    assert gone["reembedding"] == {"state": "idle", "done": 0, "total": 0}
    assert gone["has_api_key"] is True
    assert set_provider(leadiosa, api_key="")["has_api_key"] is False
    assert leadiosa.get("/api/v1/knowledge/search", params=search).json()["mode"] == "lexical"
    assert embeddings.KEY not in leadiosa.get("/api/v1/assistant").text


def test_without_its_own_a_workspace_uses_the_instances_provider(
    settings: Settings, provider: embeddings.Provider
) -> None:
    instance = Settings(
        database_url=settings.database_url,
        embeddings_url=provider.url,
        embeddings_model=embeddings.MODEL,
        embeddings_key=embeddings.KEY,
    )
    with TestClient(create_app(instance)) as api:
        api.headers.update(bearer(make_key(instance, "acme", "admin")))
        shown = settings_of(api)
        assert shown["source"] == "instance"
        assert shown["model"] == embeddings.MODEL
        assert "base_url" not in shown  # the instance's URL is not the workspace's to see
        found = api.get("/api/v1/knowledge/search", params={"q": "refunds"})
        assert found.json()["mode"] == "hybrid"


def test_a_provider_needs_a_url_and_a_model(leadiosa: TestClient) -> None:
    for given in (
        {"base_url": "https://embed.example/v1"},
        {"model": "m"},
        {"base_url": "ftp://embed.example", "model": "m"},
    ):
        answer = leadiosa.patch("/api/v1/assistant", json={"embeddings": given})
        assert "embeddings" in error_of(answer, 400, "validation_error")["message"]
    answer = leadiosa.patch("/api/v1/assistant", json={"embeddings": {"url": "x"}})
    assert answer.status_code == 400
    assert settings_of(leadiosa)["source"] == "none"


def test_a_failing_provider_shows_in_the_progress_and_is_retried(
    leadiosa: TestClient, fast: Settings, settings: Settings, provider: embeddings.Provider
) -> None:
    load(leadiosa)
    provider.fail = True
    set_provider(leadiosa, base_url=provider.url, model=embeddings.MODEL, api_key=embeddings.KEY)
    run_worker_until(fast, lambda: "error" in settings_of(leadiosa)["reembedding"])
    shown = settings_of(leadiosa)["reembedding"]
    assert shown["state"] == "running"
    assert shown["done"] == 0
    assert "503" in shown["error"]
    [job] = fetch_rows(settings, "SELECT state FROM jobs WHERE kind = 'knowledge.reembed'")
    assert job["state"] == "queued"  # to be tried again later
