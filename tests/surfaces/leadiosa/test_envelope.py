"""The Leadiosa surface: its mount, bearer authentication, roles and the error envelope."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from typing import get_args

import pytest
from starlette.requests import Request
from starlette.testclient import TestClient

from leadline.app import create_app
from leadline.auth import service as auth
from leadline.auth.roles import ROLE_PERMISSIONS, Permission, Role
from leadline.config import Settings
from leadline.errors import NotFound, Unprocessable
from leadline.jobs import service as jobs
from leadline.jobs.repository import STATES
from leadline.kit.tokens import visible_prefix
from leadline.surfaces.leadiosa import envelope
from leadline.surfaces.leadiosa.schemas import JobState
from tests.fixtures.factories import make_key, run_in_transaction
from tests.fixtures.leadiosa import (
    REQUEST_ID,
    bearer,
    error_of,
    has_rate_limit_headers,
    make_job,
)

ENDPOINTS = [
    ("GET", "/api/v1/audit"),
    ("GET", "/api/v1/jobs"),
    ("GET", "/api/v1/jobs/job_01m848x6nccxyrprxwvm505235"),
    ("POST", "/api/v1/jobs/job_01m848x6nccxyrprxwvm505235/replay"),
    ("POST", "/api/v1/jobs/replay"),
]


def test_the_surface_has_its_own_openapi_document(client: TestClient) -> None:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert "Leadiosa" in document["info"]["title"]
    assert {"/audit", "/jobs", "/jobs/{job_id}", "/jobs/{job_id}/replay", "/jobs/replay"} <= set(
        document["paths"]
    )
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    # Request validation errors are 400 here; FastAPI's default 422 must not be documented.
    assert "HTTPValidationError" not in response.text
    assert client.get("/api/v1/docs").status_code == 200
    # Octanist keeps its own document under /api.
    assert "Octanist" in client.get("/api/openapi.json").json()["info"]["title"]


def test_v1_paths_never_reach_octanist(leadiosa: TestClient) -> None:
    error_of(leadiosa.get("/api/v1/leads"), 404, "not_found")
    octanist = leadiosa.get("/api/nothing-here", headers={"X-API-KEY": "x"})
    assert octanist.json()["success"] is False


def test_success_carries_the_request_id_header(leadiosa: TestClient) -> None:
    response = leadiosa.get("/api/v1/jobs")
    assert response.status_code == 200
    assert REQUEST_ID.match(response.headers["X-Request-ID"])
    assert response.json() == {"data": [], "pagination": {"has_more": False}}


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_every_endpoint_needs_a_bearer_token(
    client: TestClient, admin_key: str, method: str, path: str
) -> None:
    missing = error_of(client.request(method, path), 401, "unauthorized")
    assert "Authorization" in missing["message"]
    error_of(client.request(method, path, headers=bearer("ll_not-a-key")), 401, "unauthorized")
    error_of(client.request(method, path, headers=bearer("")), 401, "unauthorized")
    basic = client.request(method, path, headers={"Authorization": f"Basic {admin_key}"})
    assert "Bearer" in error_of(basic, 401, "unauthorized")["message"]
    # The Octanist header is not a Leadiosa credential.
    error_of(client.request(method, path, headers={"X-API-KEY": admin_key}), 401, "unauthorized")


def test_an_unauthenticated_request_is_not_counted(client: TestClient) -> None:
    response = client.get("/api/v1/audit", headers=bearer("ll_not-a-key"))
    error_of(response, 401, "unauthorized")
    assert not has_rate_limit_headers(response)


def test_a_revoked_token_is_refused(client: TestClient, settings: Settings, admin_key: str) -> None:
    assert client.get("/api/v1/jobs", headers=bearer(admin_key)).status_code == 200
    run_in_transaction(settings, lambda s: auth.revoke_key(s, visible_prefix(admin_key)))
    error_of(client.get("/api/v1/jobs", headers=bearer(admin_key)), 401, "unauthorized")


def test_the_scheme_name_is_case_insensitive(client: TestClient, admin_key: str) -> None:
    response = client.get("/api/v1/jobs", headers={"Authorization": f"bearer  {admin_key} "})
    assert response.status_code == 200


@pytest.mark.parametrize("role", ["integration", "marketing"])
@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_only_admins_use_this_surface(
    client: TestClient, settings: Settings, role: str, method: str, path: str
) -> None:
    key = make_key(settings, "acme", role)
    response = client.request(method, path, headers=bearer(key))
    assert role in error_of(response, 403, "forbidden")["message"]
    assert has_rate_limit_headers(response)


def test_new_permissions_belong_to_admins_alone() -> None:
    added = {
        Permission.AUDIT_READ,
        Permission.JOBS_MANAGE,
        Permission.WEBHOOKS_MANAGE,
        Permission.CONVERSIONS_MANAGE,
    }
    assert added <= ROLE_PERMISSIONS[Role.ADMIN]
    for role in (Role.INTEGRATION, Role.MARKETING):
        assert not added & ROLE_PERMISSIONS[role]


def test_unknown_route_and_unknown_job_are_404(leadiosa: TestClient) -> None:
    route = error_of(leadiosa.get("/api/v1/nothing-here"), 404, "not_found")
    assert "/api/v1/nothing-here" in route["message"]
    job = error_of(leadiosa.get("/api/v1/jobs/job_nope"), 404, "job_not_found")
    assert "job_nope" in job["message"]
    error_of(leadiosa.post("/api/v1/jobs/job_nope/replay"), 404, "job_not_found")
    error_of(leadiosa.get("/api/v1/jobs/job%00x"), 404, "job_not_found")
    # A line break in the path must not slip past the surface to a plain-text 404.
    error_of(leadiosa.get("/api/v1/jobs/job%0Ax"), 404, "job_not_found")
    error_of(leadiosa.get("/api/v1/no%0Awhere"), 404, "not_found")


def test_wrong_method_is_405_in_the_envelope(leadiosa: TestClient) -> None:
    response = leadiosa.delete("/api/v1/jobs")
    error = error_of(response, 405, "method_not_allowed")
    assert "DELETE" in error["message"]
    assert "GET" in response.headers["Allow"]
    assert has_rate_limit_headers(response)
    # /jobs/replay is a path of its own (OpenAPI matches it before /jobs/{job_id}), which
    # takes POST alone: GET is not the job "replay".
    for method in ("GET", "PUT"):
        replay = leadiosa.request(method, "/api/v1/jobs/replay")
        assert error_of(replay, 405, "method_not_allowed")
        assert replay.headers["Allow"] == "POST"
    assert error_of(leadiosa.get("/api/v1/jobs/replayed"), 404, "job_not_found")
    events = leadiosa.post("/api/v1/webhooks/event-types", json={})
    assert error_of(events, 405, "method_not_allowed")
    assert events.headers["Allow"] == "GET"


def test_body_over_the_limit_is_413(settings: Settings, admin_key: str) -> None:
    small = Settings(database_url=settings.database_url, max_body_bytes=1024)
    with TestClient(create_app(small), headers=bearer(admin_key)) as client:
        big = b'{"kind": "' + b"x" * 2000 + b'"}'
        declared = client.post(
            "/api/v1/jobs/replay", content=big, headers={"content-type": "application/json"}
        )
        assert "1024" in error_of(declared, 413, "payload_too_large")["message"]
        assert has_rate_limit_headers(declared)

        def chunks() -> Iterator[bytes]:
            yield b'{"kind": "'
            for _ in range(10):
                yield b"y" * 200
            yield b'"}'

        streamed = client.post(
            "/api/v1/jobs/replay", content=chunks(), headers={"content-type": "application/json"}
        )
        error_of(streamed, 413, "payload_too_large")


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b'{"kind": ', "not valid JSON"),
        (b'{"kind": 12}', "kind"),
        (b'{"kind": ""}', "kind"),
        (b'{"kinds": "x"}', "kinds"),
        (b"[1, 2]", "body"),
        (b'{"kind": "a\\u0000b"}', "kind"),
    ],
)
def test_bad_bodies_are_400_naming_the_field(
    leadiosa: TestClient, settings: Settings, content: bytes, needle: str
) -> None:
    dead = make_job(settings)
    response = leadiosa.post(
        "/api/v1/jobs/replay", content=content, headers={"content-type": "application/json"}
    )
    assert needle in error_of(response, 400, "validation_error")["message"]
    assert leadiosa.get(f"/api/v1/jobs/{dead}").json()["data"]["state"] == "dead"


@pytest.mark.parametrize(
    ("query", "code", "needle"),
    [
        ("limit=0", "validation_error", "limit"),
        ("limit=101", "validation_error", "limit"),
        ("limit=ten", "validation_error", "limit"),
        ("after=nonsense", "invalid_cursor", "after"),
        ("after=cur_%21%21", "invalid_cursor", "after"),
        ("state=sleeping", "validation_error", "state"),
        ("kind=a%00b", "validation_error", "kind"),
    ],
)
def test_bad_list_parameters_are_400_naming_them(
    leadiosa: TestClient, query: str, code: str, needle: str
) -> None:
    response = leadiosa.get(f"/api/v1/jobs?{query}")
    assert needle in error_of(response, 400, code)["message"]
    assert has_rate_limit_headers(response)


def test_replaying_a_job_that_is_not_dead_is_409(leadiosa: TestClient, settings: Settings) -> None:
    queued = make_job(settings, state="queued")
    error = error_of(leadiosa.post(f"/api/v1/jobs/{queued}/replay"), 409, "conflict")
    assert "queued" in error["message"]


def _request(state: dict[str, object] | None = None) -> Request:
    return Request({"type": "http", "method": "POST", "path": "/x", "headers": [], "state": state})


def test_unprocessable_and_plain_not_found_render_as_documented() -> None:
    rendered = asyncio.run(
        envelope.render_error(
            _request({"request_id": "req_000000000001"}), Unprocessable("cannot do that now")
        )
    )
    assert rendered.status_code == 422
    assert json.loads(rendered.body) == {
        "error": {
            "code": "unprocessable",
            "message": "cannot do that now",
            "request_id": "req_000000000001",
        }
    }
    plain = asyncio.run(envelope.render_error(_request({}), NotFound("no such thing")))
    assert plain.status_code == 404
    error = json.loads(plain.body)["error"]
    assert error["code"] == "not_found"
    assert REQUEST_ID.match(error["request_id"])
    job = asyncio.run(envelope.render_error(_request({}), NotFound("gone", resource="job")))
    assert json.loads(job.body)["error"]["code"] == "job_not_found"


def test_an_internal_error_is_500_and_says_nothing_of_it(
    settings: Settings,
    admin_key: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("connection to db.internal:5432 failed, password=hunter2")

    monkeypatch.setattr(jobs, "list_jobs", broken)
    app = create_app(settings)
    with (
        TestClient(app, raise_server_exceptions=False, headers=bearer(admin_key)) as client,
        caplog.at_level(logging.ERROR),
    ):
        response = client.get("/api/v1/jobs")
    error = error_of(response, 500, "internal_error")
    assert "hunter2" not in response.text
    assert "db.internal" not in response.text
    assert "request_id" in error["message"]
    assert has_rate_limit_headers(response)
    assert "hunter2" in caplog.text  # the log keeps what the answer leaves out


def test_octanist_still_renders_not_found_its_way(api: TestClient) -> None:
    response = api.get("/api/leads/lead_nope")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"


def test_documented_job_states_are_the_queue_states() -> None:
    assert set(get_args(JobState)) == set(STATES)


def test_a_405_allows_every_method_of_the_path(leadiosa: TestClient) -> None:
    # /webhooks is two routes (GET and POST); the answer names both, not only the first found.
    response = leadiosa.request("TRACE", "/api/v1/webhooks")
    error_of(response, 405, "method_not_allowed")
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "POST"}
    response = leadiosa.request("PUT", "/api/v1/webhooks/whe_1")
    assert response.status_code == 405
    documented = leadiosa.get("/api/v1/openapi.json").json()["paths"]["/webhooks/{endpoint_id}"]
    assert set(response.headers["Allow"].split(", ")) == {method.upper() for method in documented}


def test_an_over_long_path_id_is_a_documented_400(leadiosa: TestClient) -> None:
    error_of(leadiosa.get(f"/api/v1/jobs/{'0' * 65}"), 400, "validation_error")
    document = leadiosa.get("/api/v1/openapi.json").json()
    for path, operations in document["paths"].items():
        if "{" in path:
            for method, operation in operations.items():
                assert "400" in operation["responses"], (method, path)


@pytest.mark.parametrize("path", ["/api/v1/jobs", "/api/v1/audit", "/api/v1/webhooks"])
def test_an_empty_after_is_the_first_page(
    leadiosa: TestClient, settings: Settings, path: str
) -> None:
    make_job(settings)
    leadiosa.post("/api/v1/jobs/replay", json={"kind": "none"})  # an audit event or none: either
    first = leadiosa.get(path, params={"after": ""})
    assert first.status_code == 200, first.text
    assert first.json() == leadiosa.get(path).json()
