"""GET /metrics: who may read it, and each family moving when its thing happens. The output is
read with prometheus-client's own parser of the text format."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.testclient import TestClient

import tests.jobs.tasks  # noqa: F401  (registers the test tasks)
from leadline.app import create_app
from leadline.config import Settings
from leadline.jobs import service as jobs
from leadline.kit.time import utcnow
from leadline.surfaces.metrics import create_metrics_app
from tests.fixtures.factories import make_key, make_site, run_in_transaction
from tests.fixtures.jobs import run_worker_until
from tests.fixtures.receiver import Answer, receiver

LOCAL = ("127.0.0.1", 40000)
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36"
PAGE = {"Origin": "https://shop.example", "User-Agent": BROWSER}

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def read(client: TestClient, headers: dict[str, str] | None = None) -> Samples:
    answer = client.get("/metrics", headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
def local(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), client=LOCAL) as client:
        yield client


def test_loopback_clients_read_it_without_a_token(local: TestClient) -> None:
    samples = read(local)
    names = {name for name, _ in samples}
    assert "leadline_database_up" in names
    assert value(samples, "leadline_database_up") == 1.0
    for state in ("due", "scheduled", "running", "dead"):
        assert ("leadline_jobs", frozenset({("state", state)})) in samples
    assert "leadline_tracking_writer_waiting_events" in names
    assert local.get("/metrics").headers["cache-control"] == "no-store"


def test_other_clients_are_refused_without_a_token(settings: Settings) -> None:
    with TestClient(create_app(settings), client=("203.0.113.9", 5000)) as remote:
        answer = remote.get("/metrics")
        assert answer.status_code == 403
        assert "LEADLINE_METRICS_TOKEN" in answer.json()["error"]
    with TestClient(create_app(settings), client=LOCAL) as proxied:
        # Through a reverse proxy on the same machine every client looks local.
        for header in ("X-Forwarded-For", "Forwarded", "X-Real-IP"):
            assert proxied.get("/metrics", headers={header: "203.0.113.9"}).status_code == 403


def test_with_a_token_every_client_needs_it(settings: Settings) -> None:
    token = "m3tr1cs-t0ken-for-the-scraper"
    configured = settings.model_copy(update={"metrics_token": token})
    for where in (LOCAL, ("203.0.113.9", 5000)):
        with TestClient(create_app(configured), client=where) as client:
            refused = client.get("/metrics")
            assert refused.status_code == 401
            assert refused.headers["www-authenticate"] == "Bearer"
            for wrong in (f"Bearer {token}x", f"Basic {token}", token, "Bearer "):
                assert client.get("/metrics", headers={"Authorization": wrong}).status_code == 401
            read(client, {"Authorization": f"Bearer {token}"})
            read(client, {"Authorization": f"bearer {token}"})


def test_requests_are_counted_by_route_template_and_status(
    local: TestClient, settings: Settings
) -> None:
    key = make_key(settings, "acme", "admin")
    before = read(local)
    local.get("/api/leads/ld_secret-looking-id-42", headers={"X-API-KEY": key})
    local.get("/api/leads/ld_another-one", headers={"X-API-KEY": key})
    local.get("/no/such/page/12345")
    local.get("/health")
    after = read(local)
    template = {"route": "/api/leads/{lead_id}", "method": "GET", "status": "404"}
    moved = value(after, "leadline_http_requests_total", **template) - value(
        before, "leadline_http_requests_total", **template
    )
    assert moved == 2
    unmatched = {"route": "<unmatched>", "method": "GET", "status": "404"}
    assert value(after, "leadline_http_requests_total", **unmatched) > value(
        before, "leadline_http_requests_total", **unmatched
    )
    health = {"route": "/health", "method": "GET", "status": "200"}
    assert value(after, "leadline_http_requests_total", **health) == 1 + value(
        before, "leadline_http_requests_total", **health
    )
    count = "leadline_http_request_duration_seconds_count"
    assert value(after, count, route="/api/leads/{lead_id}") == 2 + value(
        before, count, route="/api/leads/{lead_id}"
    )
    # No raw path makes a series.
    text = local.get("/metrics").text
    assert "secret-looking" not in text
    assert "12345" not in text


def test_tracking_counts_requests_writer_groups_and_site_cache(
    local: TestClient, settings: Settings
) -> None:
    site_key = make_site(settings, "acme", "shop.example")
    before = read(local)
    started = local.post(
        "/track/session/start",
        json={"siteKey": site_key, "url": "https://shop.example/"},
        headers=PAGE,
    )
    visit = started.json()["session_id"]
    for n in range(3):
        answer = local.post(
            "/track/event",
            json={"siteKey": site_key, "sessionId": visit, "type": "click", "id": f"c{n}"},
            headers=PAGE,
        )
        assert answer.status_code == 200, answer.text
    local.post("/track/nowhere", json={})
    after = read(local)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("leadline_http_requests_total", route="/track/event", method="POST", status="200")
    assert moved(
        "leadline_http_requests_total", route="/track/session/start", method="POST", status="200"
    )
    assert moved("leadline_http_requests_total", route="<unmatched>", method="POST", status="404")
    assert moved("leadline_tracking_writer_group_requests_count") >= 1
    assert moved("leadline_tracking_writer_group_requests_sum") == 4
    assert moved("leadline_tracking_writer_group_events_sum") >= 3
    assert moved("leadline_tracking_writer_commit_seconds_count") >= 1
    assert moved("leadline_cache_lookups_total", cache="sites", result="miss") >= 1
    assert moved("leadline_cache_lookups_total", cache="sites", result="hit") >= 1


def test_key_cache_hits_and_misses(local: TestClient, settings: Settings) -> None:
    key = make_key(settings, "acme", "admin")
    before = read(local)
    for _ in range(3):
        assert local.get("/api/leads", headers={"X-API-KEY": key}).status_code == 200
    after = read(local)
    name = "leadline_cache_lookups_total"
    assert (
        value(after, name, cache="api_keys", result="miss")
        - value(before, name, cache="api_keys", result="miss")
        == 1
    )
    assert (
        value(after, name, cache="api_keys", result="hit")
        - value(before, name, cache="api_keys", result="hit")
        == 2
    )


def _enqueue(settings: Settings, kind: str, payload: dict[str, object], **when: object) -> None:
    async def work(session: AsyncSession) -> None:
        await jobs.enqueue(session, kind, payload, **when)  # type: ignore[arg-type]

    run_in_transaction(settings, work)


def test_queue_depth_and_oldest_due_job_are_read_when_scraped(
    local: TestClient, settings: Settings
) -> None:
    now = utcnow()
    _enqueue(settings, "test.record", {}, run_at=now - timedelta(minutes=5))
    _enqueue(settings, "test.record", {}, run_at=now - timedelta(seconds=1))
    _enqueue(settings, "test.record", {}, run_at=now + timedelta(hours=1))
    samples = read(local)
    assert value(samples, "leadline_jobs", state="due") == 2
    assert value(samples, "leadline_jobs", state="scheduled") == 1
    assert value(samples, "leadline_jobs", state="running") == 0
    assert 300 <= value(samples, "leadline_jobs_oldest_due_age_seconds") < 600


def test_jobs_run_are_counted_by_kind_and_outcome(local: TestClient, settings: Settings) -> None:
    quick = settings.model_copy(update={"jobs_poll_seconds": 0.05})
    before = read(local)
    _enqueue(quick, "test.record", {})
    _enqueue(quick, "test.give_up", {})

    def idle() -> bool:
        async def work(session: AsyncSession) -> bool:
            counts = await jobs.counts(session)
            return counts["queued"] == counts["running"] == 0

        return run_in_transaction(quick, work)

    run_worker_until(quick, idle)
    after = read(local)
    name = "leadline_jobs_run_total"
    assert value(after, name, kind="test.record", outcome="succeeded") == 1 + value(
        before, name, kind="test.record", outcome="succeeded"
    )
    assert value(after, name, kind="test.give_up", outcome="dead") == 1 + value(
        before, name, kind="test.give_up", outcome="dead"
    )
    assert value(after, "leadline_jobs", state="dead") >= 1


def test_webhook_delivery_outcomes(
    local: TestClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from leadline.webhooks import service as webhooks
    from tests.webhooks.test_delivery import add_endpoint, settled

    monkeypatch.setattr(webhooks, "RETRY_DELAYS", (0.05,) * 7)
    hooks = settings.model_copy(
        update={"webhooks_allow_private": True, "webhooks_timeout_seconds": 2}
    )
    key = make_key(settings, "acme", "admin")
    before = read(local)
    with receiver() as target:
        add_endpoint(hooks, key, target.url)
        target.answer(Answer(500))
        local.post("/api/leads", json={"name": "Ada"}, headers={"X-API-KEY": key})
        run_worker_until(
            hooks.model_copy(update={"jobs_poll_seconds": 0.05}), lambda: settled(hooks)
        )
    after = read(local)
    name = "leadline_webhook_deliveries_total"
    assert value(after, name, outcome="retrying") - value(before, name, outcome="retrying") == 1
    assert value(after, name, outcome="delivered") - value(before, name, outcome="delivered") == 1
    latency = "leadline_webhook_delivery_duration_seconds_count"
    assert value(after, latency) - value(before, latency) == 2


def test_the_worker_serves_its_own_metrics(settings: Settings) -> None:
    with TestClient(create_metrics_app(settings), client=LOCAL) as client:
        samples = read(client)
        assert value(samples, "leadline_database_up") == 1.0
        assert client.get("/health").status_code == 404
    with TestClient(create_metrics_app(settings), client=("203.0.113.9", 1)) as client:
        assert client.get("/metrics").status_code == 403


def test_an_unreachable_database_is_reported_not_raised() -> None:
    broken = Settings(database_url="postgresql://nobody@127.0.0.1:1/none")
    with TestClient(create_metrics_app(broken), client=LOCAL) as client:
        samples = read(client)
    assert value(samples, "leadline_database_up") == 0.0
