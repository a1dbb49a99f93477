"""Property-based run of the Leadiosa OpenAPI document: no 5xx, every response as documented."""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import httpx
import pytest

from leadline.config import Settings
from tests.fixtures.database import empty_tables
from tests.fixtures.factories import make_key
from tests.fixtures.leadiosa import bearer, make_job, record_events
from tests.fixtures.openapi import CHECKS, conforms, load
from tests.fixtures.people import make_person, person_with_token
from tests.fixtures.server import live_server


class Served(NamedTuple):
    base_url: str
    headers: dict[str, str]
    jobs: list[str]  # the workspace's jobs when the run starts
    settings: Settings
    person_id: str  # the workspace's owner, who has a token


@pytest.fixture(scope="module")
def leadiosa_server(database_url: str) -> Iterator[Served]:
    # A limit the run cannot reach: every answer should be the endpoint's own.
    app_settings = Settings(database_url=database_url, api_rate_limit=1_000_000)
    headers = bearer(make_key(app_settings, "fuzz", "admin"))
    # Jobs and events to list, so list responses carry items for the schema check to read.
    jobs = [make_job(app_settings, "fuzz", kind=f"kind.{n % 2}") for n in range(4)]
    jobs.append(make_job(app_settings, "fuzz", state="queued", payload={"n": 1}))
    record_events(app_settings, "fuzz", count=3, target=("lead", "lead_1"))
    # People and a token to list.
    person_id, _ = person_with_token(app_settings, "fuzz", "owner@example.com", "owner")
    make_person(app_settings, "fuzz", "agent@example.com", role="agent")
    with live_server(app_settings) as base_url:
        with httpx.Client(base_url=base_url, headers=headers) as http:
            assert http.post(f"/api/v1/jobs/{jobs[0]}/replay").status_code == 200
            # A conversation with every kind of entry, so the inbox's lists have items too.
            started = http.post(
                "/api/v1/conversations",
                json={
                    "contact": {"email": "ada@example.com", "name": "Ada"},
                    "message": {"text": "Hello"},
                    "subject": "Shipping",
                },
            )
            assert started.status_code == 201, started.text
            conversation = started.json()["data"]["id"]
            for path, body in (
                (f"/api/v1/conversations/{conversation}/messages", {"text": "Hi Ada"}),
                (f"/api/v1/conversations/{conversation}/notes", {"text": "VIP"}),
            ):
                assert http.post(path, json=body).status_code == 201
            # An article, so the knowledge base's lists and search have items.
            article = http.post(
                "/api/v1/knowledge",
                json={
                    "title": "Refunds",
                    "body": "# Refunds\n\nWithin 30 days.",
                    "tags": ["billing"],
                    "published": True,
                },
            )
            assert article.status_code == 201, article.text
            assert (
                http.patch(
                    f"/api/v1/conversations/{conversation}",
                    json={"status": "closed", "tags": ["vip"]},
                ).status_code
                == 200
            )
        yield Served(base_url, headers, jobs, app_settings, person_id)
    empty_tables(database_url)


@pytest.mark.slow
def test_leadiosa_api_conforms(leadiosa_server: Served) -> None:
    base_url, headers, jobs, app_settings, person_id = leadiosa_server
    schema = load(f"{base_url}/api/v1/openapi.json")
    assert len(list(schema.get_all_operations())) >= 5
    conforms(schema, base_url=f"{base_url}/api/v1", headers=headers, max_examples=30)
    # The run may have closed the workspace (POST /workspace/close): open it for what follows.
    with httpx.Client(base_url=base_url, headers=headers) as http:
        reopened = http.post("/api/v1/workspace/restore")
        assert reopened.status_code == 200 or (
            reopened.json()["error"]["code"] == "workspace_not_closed"
        ), reopened.text

    # Cases sure to answer with items: full pages of events and jobs, one job, a replay.
    def call(path: str, method: str, **kwargs: object) -> httpx.Response:
        case = schema[path][method].Case(**kwargs)
        response: httpx.Response = case.call_and_validate(
            base_url=f"{base_url}/api/v1", headers=headers, checks=CHECKS
        )
        return response

    audit = call("/audit", "GET", query={"limit": 2})
    assert len(audit.json()["data"]) == 2
    assert audit.json()["pagination"]["has_more"] is True
    listed = call("/jobs", "GET", query={"limit": 100})
    assert len(listed.json()["data"]) == len(jobs)
    assert call("/jobs/{job_id}", "GET", path_parameters={"job_id": jobs[-1]}).json()["data"]
    dead = make_job(app_settings, "fuzz", kind="kind.late")
    replayed = call("/jobs/{job_id}/replay", "POST", path_parameters={"job_id": dead})
    assert replayed.json()["data"]["state"] == "queued"
    make_job(app_settings, "fuzz", kind="kind.late")
    assert call("/jobs/replay", "POST", body={"kind": "kind.late"}).json() == {
        "data": {"replayed": 1}
    }

    people = call("/people", "GET", query={"limit": 1})
    assert people.json()["pagination"]["has_more"] is True
    person = {"person_id": person_id}
    changed = call("/people/{person_id}", "PATCH", path_parameters=person, body={"name": "Olga"})
    assert changed.json()["data"]["name"] == "Olga"
    assert call("/tokens", "GET").json()["data"]
    created = call("/tokens", "POST", body={"person_id": person_id, "name": "fuzz"}).json()
    token = {"token_id": created["data"]["id"]}
    assert call("/tokens/{token_id}/rotate", "POST", path_parameters=token).json()["data"]["token"]
    revoked = call("/tokens/{token_id}", "DELETE", path_parameters=token)
    assert revoked.json()["data"]["status"] == "revoked"
    # The inbox's answers with every field they can have, as documented.
    (conversation,) = call("/conversations", "GET", query={"status": "closed"}).json()["data"]
    assert conversation["tags"] == ["vip"]
    inbox = {"conversation_id": conversation["id"]}
    assert (
        len(
            call("/conversations/{conversation_id}/messages", "GET", path_parameters=inbox).json()[
                "data"
            ]
        )
        == 2
    )
    assert call("/conversations/{conversation_id}/notes", "GET", path_parameters=inbox).json()[
        "data"
    ]
    assert call("/contacts", "GET", query={"q": "ada"}).json()["data"]
