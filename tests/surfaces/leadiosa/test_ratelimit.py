"""Per-token rate limits on the Leadiosa surface: headers, 429, Redis shared by processes."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from starlette.routing import Mount
from starlette.testclient import TestClient

from leadline.app import create_app
from leadline.config import Settings
from leadline.kit.ratelimit import storage_url
from tests.fixtures.factories import make_key
from tests.fixtures.leadiosa import bearer, error_of, has_rate_limit_headers


def limited(settings: Settings, per_minute: int, **extra: object) -> Settings:
    return Settings(database_url=settings.database_url, api_rate_limit=per_minute, **extra)


def counts(response: httpx.Response) -> tuple[int, int, int]:
    headers = response.headers
    return (
        int(headers["X-RateLimit-Limit"]),
        int(headers["X-RateLimit-Remaining"]),
        int(headers["X-RateLimit-Reset"]),
    )


def test_headers_count_down_and_the_next_request_is_429(settings: Settings) -> None:
    key = make_key(settings, "acme", "admin")
    with TestClient(create_app(limited(settings, 3)), headers=bearer(key)) as client:
        started = time.time()
        seen = [counts(client.get("/api/v1/jobs")) for _ in range(3)]
        assert [(limit, remaining) for limit, remaining, _ in seen] == [(3, 2), (3, 1), (3, 0)]
        for _, _, reset in seen:
            assert started <= reset <= time.time() + 61
        refused = client.get("/api/v1/jobs")
        error = error_of(refused, 429, "rate_limited")
        assert "3 requests per minute" in error["message"]
        assert counts(refused)[:2] == (3, 0)
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert int(refused.headers["X-RateLimit-Reset"]) == seen[0][2]


def test_errors_are_counted_and_carry_the_headers(settings: Settings) -> None:
    key = make_key(settings, "acme", "admin")
    with TestClient(create_app(limited(settings, 10)), headers=bearer(key)) as client:
        answers = [
            client.get("/api/v1/nothing"),
            client.get("/api/v1/jobs/job_nope"),
            client.get("/api/v1/jobs?limit=0"),
            client.delete("/api/v1/jobs"),
            client.get("/api/v1/jobs"),
        ]
        assert [r.status_code for r in answers] == [404, 404, 400, 405, 200]
        assert [counts(r)[1] for r in answers] == [9, 8, 7, 6, 5]


def test_each_token_has_its_own_counter(settings: Settings) -> None:
    first = make_key(settings, "acme", "admin")
    second = make_key(settings, "acme", "admin")
    with TestClient(create_app(limited(settings, 2))) as client:
        for _ in range(2):
            assert client.get("/api/v1/jobs", headers=bearer(first)).status_code == 200
        error_of(client.get("/api/v1/jobs", headers=bearer(first)), 429, "rate_limited")
        other = client.get("/api/v1/jobs", headers=bearer(second))
        assert other.status_code == 200
        assert counts(other)[1] == 1


def test_the_documents_are_not_counted(settings: Settings) -> None:
    with TestClient(create_app(limited(settings, 1))) as client:
        for _ in range(3):
            response = client.get("/api/v1/openapi.json")
            assert response.status_code == 200
            assert not has_rate_limit_headers(response)


@contextmanager
def serving(settings: Settings, key: str) -> Iterator[TestClient]:
    """A client of a new app that closes the app's Redis connections when done."""
    app = create_app(settings)
    leadiosa = next(r.app for r in app.routes if isinstance(r, Mount) and r.path == "/api/v1")
    with TestClient(app, headers=bearer(key)) as client:
        try:
            yield client
        finally:
            client.portal.call(leadiosa.state.rate_limiter.aclose)


def test_two_processes_share_one_counter_in_redis(settings: Settings, redis_url: str) -> None:
    key = make_key(settings, "acme", "admin")
    shared = limited(settings, 3, redis_url=redis_url)
    with serving(shared, key) as one, serving(shared, key) as two:
        assert counts(one.get("/api/v1/jobs"))[1] == 2
        assert counts(two.get("/api/v1/jobs"))[1] == 1
        assert counts(one.get("/api/v1/jobs"))[1] == 0
        refused = two.get("/api/v1/jobs")
        error_of(refused, 429, "rate_limited")
        assert int(refused.headers["Retry-After"]) >= 1
        error_of(one.get("/api/v1/jobs"), 429, "rate_limited")


def test_memory_counters_are_per_process(settings: Settings) -> None:
    key = make_key(settings, "acme", "admin")
    alone = limited(settings, 3)
    with (
        TestClient(create_app(alone), headers=bearer(key)) as one,
        TestClient(create_app(alone), headers=bearer(key)) as two,
    ):
        assert counts(one.get("/api/v1/jobs"))[1] == 2
        assert counts(two.get("/api/v1/jobs"))[1] == 2


def test_unreachable_redis_lets_requests_through(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    key = make_key(settings, "acme", "admin")
    # Nothing listens on port 1.
    broken = limited(settings, 1, redis_url="redis://127.0.0.1:1/0")
    with (
        caplog.at_level(logging.WARNING, logger="leadline.kit.ratelimit"),
        TestClient(create_app(broken), headers=bearer(key)) as client,
    ):
        answers = [client.get("/api/v1/jobs") for _ in range(3)]
    assert [r.status_code for r in answers] == [200, 200, 200]
    assert not any(has_rate_limit_headers(r) for r in answers)
    # (The live hub says it cannot reach Redis either, in its own log.)
    warnings = [
        r
        for r in caplog.records
        if r.levelno == logging.WARNING and r.name == "leadline.kit.ratelimit"
    ]
    # Warned once, not once per request: Redis is not asked again for a few seconds.
    assert len(warnings) == 1
    assert "uncounted" in warnings[0].getMessage()


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (None, "async+memory://"),
        ("redis://127.0.0.1:6379/0", "async+redis://127.0.0.1:6379/0"),
        ("rediss://:pw@cache:6380", "async+rediss://:pw@cache:6380"),
        ("unix:///run/redis.sock", "async+redis+unix:///run/redis.sock"),
    ],
)
def test_redis_urls_as_people_write_them(given: str | None, expected: str) -> None:
    assert storage_url(given) == expected
