"""Several instances on one PostgreSQL and one Redis: two `leadline serve --no-worker` processes
and two `leadline worker` processes, with traffic at both servers. Rate limits are counted
across them, every job runs once, a change made through one reaches the other's caches within a
second, a stream on one hears messages written through the other, a new visitor's pages sent
to both at once start one visit, and nothing sent is lost or stored twice."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from leadline.config import Settings
from tests.fixtures.factories import fetch_rows, make_key, make_site, make_webhook_endpoint
from tests.fixtures.leadiosa import bearer
from tests.fixtures.receiver import Receiver, receiver
from tests.fixtures.redis import reachable_redis
from tests.fixtures.server import free_port

ROOT = Path(__file__).resolve().parents[2]
# Requests per token per minute on the Leadiosa surface, counted across both servers.
API_RATE = 40
# What "everywhere within a second" allows: a change made through one server is honoured by
# the other before this deadline (polled; nothing is asserted about how soon).
INVALIDATED_WITHIN = 1.0
# Every wait on the processes is bounded by this.
WAIT_SECONDS = 60.0
PAGE = {"Origin": "https://shop.example", "User-Agent": "Mozilla/5.0 (X11; Linux) Firefox/140"}


@dataclass
class Cluster:
    settings: Settings
    a: httpx.Client
    b: httpx.Client
    processes: list[subprocess.Popen[bytes]]
    logs: Path

    @property
    def both(self) -> tuple[httpx.Client, httpx.Client]:
        return self.a, self.b

    def alive(self) -> None:
        for proc in self.processes:
            assert proc.poll() is None, f"a process exited; its log is in {self.logs}"


def _environment(database_url: str, redis_url: str, secret: str) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "LEADLINE_DATABASE_URL": database_url,
        "LEADLINE_REDIS_URL": redis_url,
        "LEADLINE_SECRET_KEY": secret,
        "LEADLINE_LOG_LEVEL": "warning",
        "LEADLINE_API_RATE_LIMIT": str(API_RATE),
        # The test's own traffic comes from loopback, which is not limited; the limits are
        # tested with clients named by X-Forwarded-For, which loopback (the "proxy") may set.
        "LEADLINE_TRACKING_WHITELIST_IPS": "127.0.0.1",
        "LEADLINE_TRUSTED_PROXIES": "127.0.0.1",
        "LEADLINE_WEBHOOKS_ALLOW_PRIVATE": "1",
        "LEADLINE_JOBS_POLL_SECONDS": "0.05",
    }


def _start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "leadline.cli", *command],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _wait_until_up(base: str, proc: subprocess.Popen[bytes]) -> None:
    # Longer than tests/fixtures/server.py waits: four processes start on a busy machine.
    deadline = time.monotonic() + WAIT_SECONDS * 2
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the server exited"
        try:
            httpx.get(f"{base}/health", timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError("the server did not start")


@pytest.fixture(scope="module")
def cluster(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    if not database_url.startswith("postgresql"):
        pytest.skip("several instances share one PostgreSQL database")
    redis_url = reachable_redis()
    logs = tmp_path_factory.mktemp("instances")
    env = _environment(database_url, redis_url, secrets.token_urlsafe(32))
    processes: list[subprocess.Popen[bytes]] = []
    with ExitStack() as stack:
        try:
            bases = []
            # One after the other: the first start makes the database's first rows.
            for name in ("a", "b"):
                port = free_port()
                serve = ["serve", "--port", str(port), "--no-worker"]
                proc = _start(serve, env, logs / f"serve-{name}.log")
                processes.append(proc)
                base = f"http://127.0.0.1:{port}"
                _wait_until_up(base, proc)
                bases.append(base)
            for name in ("1", "2"):
                worker = ["worker", "--concurrency", "4"]
                processes.append(_start(worker, env, logs / f"worker-{name}.log"))
            a, b = (
                stack.enter_context(httpx.Client(base_url=base, timeout=WAIT_SECONDS))
                for base in bases
            )
            yield Cluster(Settings(database_url=database_url), a, b, processes, logs)
            for proc in processes:
                assert proc.poll() is None, f"a process exited; its log is in {logs}"
        finally:
            _stop_all(processes)


def _stop_all(processes: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM to each; each must finish what it holds and exit within 30 s (uvicorn ends a
    server by raising the signal again once it has shut down: -15 is its clean exit)."""
    for proc in processes:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    codes = []
    for proc in processes:
        try:
            codes.append(proc.wait(timeout=30))
        except subprocess.TimeoutExpired:
            proc.kill()
            codes.append(proc.wait())
    assert set(codes) <= {0, -signal.SIGTERM}, codes


def workspace(cluster: Cluster) -> tuple[str, str]:
    """A workspace of the test's own (the database is shared by every test of the module), and
    an admin key of it."""
    slug = f"inst-{secrets.token_hex(4)}"
    return slug, make_key(cluster.settings, slug, "admin")


def until(condition: Callable[[], bool], within: float, cluster: Cluster) -> bool:
    """Whether ``condition`` holds before ``within`` seconds have passed."""
    deadline = time.monotonic() + within
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        cluster.alive()
        time.sleep(0.02)


def forwarded(ip: str) -> dict[str, str]:
    return {**PAGE, "X-Forwarded-For": ip}


def a_client_address() -> str:
    """An address of TEST-NET-2 of this run's own, so that no earlier run's counts apply."""
    return f"198.51.{secrets.randbelow(100) + 100}.{secrets.randbelow(254) + 1}"


# ------------------------------------------------------------------------------ rate limits


def test_the_api_rate_limit_is_counted_across_instances(cluster: Cluster) -> None:
    _, key = workspace(cluster)
    headers = bearer(key)
    half = API_RATE // 2
    for _ in range(half):
        assert cluster.a.get("/api/v1/jobs", headers=headers).status_code == 200
    first_on_b = cluster.b.get("/api/v1/jobs", headers=headers)
    assert first_on_b.status_code == 200
    # B counts what A counted.
    assert int(first_on_b.headers["X-RateLimit-Remaining"]) == API_RATE - half - 1
    for _ in range(API_RATE - half - 1):
        assert cluster.b.get("/api/v1/jobs", headers=headers).status_code == 200
    for server in cluster.both:
        refused = server.get("/api/v1/jobs", headers=headers)
        assert refused.status_code == 429, refused.text
        assert refused.json()["error"]["code"] == "rate_limited"


def test_the_tracking_limits_are_counted_across_instances(cluster: Cluster) -> None:
    slug, _ = workspace(cluster)
    site = make_site(cluster.settings, slug, "shop.example")
    visitor = a_client_address()
    body = {"siteKey": site, "url": "https://shop.example/"}
    # session/start takes 10 per IP per minute: 5 through each server.
    for server in (cluster.a, cluster.b) * 5:
        answer = server.post("/track/session/start", json=body, headers=forwarded(visitor))
        assert answer.status_code == 200, answer.text
    for server in cluster.both:
        answer = server.post("/track/session/start", json=body, headers=forwarded(visitor))
        assert answer.status_code == 429, answer.text
    # Another client (another forwarded address) has its own count.
    other = cluster.b.post("/track/session/start", json=body, headers=forwarded(a_client_address()))
    assert other.status_code == 200, other.text


# ------------------------------------------------------------------------------ caches


def test_a_key_revoked_through_one_instance_is_refused_by_the_other(cluster: Cluster) -> None:
    _, admin = workspace(cluster)
    made = cluster.a.post(
        "/analytics/integrations", json={"name": "backend"}, headers=bearer(admin)
    )
    assert made.status_code == 201, made.text
    integration = made.json()["integration"]["id"]
    key = made.json()["api_key"]
    # Known to B (kept in its memory): an integration key may not manage sites, but it is a key.
    assert cluster.b.get("/analytics/sites", headers=bearer(key)).status_code == 403
    revoked = cluster.a.delete(f"/analytics/integrations/{integration}", headers=bearer(admin))
    assert revoked.status_code == 200, revoked.text
    assert until(
        lambda: cluster.b.get("/analytics/sites", headers=bearer(key)).status_code == 401,
        INVALIDATED_WITHIN,
        cluster,
    ), "the other instance still accepts the revoked key"


def test_a_sites_domains_changed_through_one_instance_apply_on_the_other(
    cluster: Cluster,
) -> None:
    _, admin = workspace(cluster)
    created = cluster.a.post(
        "/analytics/sites", json={"domains": ["shop.example"]}, headers=bearer(admin)
    )
    assert created.status_code == 201, created.text
    site = created.json()["site"]
    body = {"siteKey": site["site_key"], "url": "https://blog.example/"}
    blog = {**PAGE, "Origin": "https://blog.example"}

    def blog_status() -> int:
        return cluster.b.post("/track/session/start", json=body, headers=blog).status_code

    # B keeps the site in memory, and refuses the page.
    assert blog_status() == 403
    added = cluster.a.post(
        f"/analytics/sites/{site['id']}/domains",
        json={"domain": "blog.example"},
        headers=bearer(admin),
    )
    assert added.status_code == 201, added.text
    assert until(lambda: blog_status() == 200, INVALIDATED_WITHIN, cluster), (
        "the other instance still refuses the added domain"
    )
    removed = cluster.a.delete(
        f"/analytics/sites/{site['id']}/domains/{added.json()['domain']['id']}",
        headers=bearer(admin),
    )
    assert removed.status_code == 200, removed.text
    assert until(lambda: blog_status() == 403, INVALIDATED_WITHIN, cluster), (
        "the other instance still serves the removed domain"
    )


# ------------------------------------------------------------------------------ live


class Stream:
    """An event stream's events, read one at a time (heartbeat comments skipped)."""

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


def conversation(server: httpx.Client, headers: dict[str, str]) -> str:
    body = {"contact": {"name": "Ada"}, "message": {"text": "Hello"}}
    answer = server.post("/api/v1/conversations", json=body, headers=headers)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["data"]["id"])


def post_message(
    server: httpx.Client, headers: dict[str, str], conversation_id: str, text: str
) -> str:
    answer = server.post(
        f"/api/v1/conversations/{conversation_id}/messages", json={"text": text}, headers=headers
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["data"]["id"])


def test_a_stream_on_one_instance_hears_messages_posted_through_the_other(
    cluster: Cluster,
) -> None:
    _, admin = workspace(cluster)
    headers = bearer(admin)
    conversation_id = conversation(cluster.a, headers)
    url = f"/api/v1/conversations/{conversation_id}/stream"
    timeout = httpx.Timeout(10.0)
    with cluster.b.stream("GET", url, headers=headers, timeout=timeout) as answer:
        assert answer.status_code == 200
        lines = answer.iter_lines()
        assert next(lines).startswith("retry:")  # subscribed by now
        stream = Stream(lines)
        posted = [
            post_message(server, headers, conversation_id, f"message {n}")
            for n, server in enumerate((cluster.a, cluster.b, cluster.a, cluster.a))
        ]
        heard = [stream.next() for _ in posted]
    assert [event["event"] for event in heard] == ["message.created"] * len(posted)
    assert [event["data"]["id"] for event in heard] == posted
    assert [event["id"] for event in heard] == ["2", "3", "4", "5"]


# ------------------------------------------------------------------------------ traffic


def _track(server: httpx.Client, site: str, visit: int) -> tuple[str, list[str]]:
    # A browser of its own (cookieless visitors are told apart by address and user agent):
    # one browser's pages would resume one visit.
    browser = {**PAGE, "User-Agent": f"{PAGE['User-Agent']} visit/{visit}"}
    started = server.post(
        "/track/session/start",
        json={"siteKey": site, "url": "https://shop.example/"},
        headers=browser,
    )
    assert started.status_code == 200, started.text
    visit_id = str(started.json()["session_id"])
    events = [{"id": f"v{visit}-e{n}", "type": "click"} for n in range(5)]
    body = {"siteKey": site, "sessionId": visit_id, "events": events}
    sent = server.post("/track/events/batch", json=body, headers=browser)
    assert sent.status_code == 200, sent.text
    return visit_id, [event["id"] for event in events]


def test_a_new_visitors_first_pages_at_both_instances_start_one_visit(cluster: Cluster) -> None:
    """Two tabs of a new cookieless visitor opened together, their pages sent to the two
    servers at the same moment: one visit, which both pages are answered with."""
    slug, _ = workspace(cluster)
    site = make_site(cluster.settings, slug, "shop.example")
    body = {"siteKey": site, "url": "https://shop.example/"}
    rounds, visitors = 10, 8
    pages = 2 * visitors
    answered: dict[str, list[str]] = {}
    with ThreadPoolExecutor(pages) as pool:
        for round_ in range(rounds):
            together = threading.Barrier(pages)

            def page(n: int, round_: int = round_, together: threading.Barrier = together) -> str:
                # A browser of its own per visitor: the address is the same (loopback).
                browser = {**PAGE, "User-Agent": f"{PAGE['User-Agent']} tabs/{round_}-{n // 2}"}
                together.wait(timeout=WAIT_SECONDS)
                server = cluster.a if n % 2 else cluster.b
                started = server.post("/track/session/start", json=body, headers=browser)
                assert started.status_code == 200, started.text
                return str(started.json()["session_id"])

            visit_ids = list(pool.map(page, range(pages)))
            for n in range(visitors):
                answered[f"{round_}-{n}"] = visit_ids[2 * n : 2 * n + 2]
    rows = fetch_rows(
        cluster.settings,
        "SELECT v.visitor_id AS visitor_id, count(*) AS n FROM visits v"
        " JOIN workspaces w ON w.id = v.workspace_id WHERE w.slug = :slug GROUP BY v.visitor_id",
        slug=slug,
    )
    visits = {row["visitor_id"]: int(row["n"]) for row in rows}
    assert len(visits) == rounds * visitors
    twice = [visitor for visitor, n in visits.items() if n != 1]
    assert not twice, f"{len(twice)} of {len(visits)} visitors got more than one visit"
    assert all(one == other for one, other in answered.values())


def _lead(server: httpx.Client, key: str, n: int) -> str:
    body = {"name": f"Lead {n}", "email": f"lead{n}@example.com"}
    answer = server.post("/api/leads", json=body, headers={"X-API-KEY": key})
    assert answer.status_code in (200, 201), answer.text
    return str(answer.json()["data"]["id"])


def test_traffic_at_both_is_stored_once_and_every_job_runs_once(cluster: Cluster) -> None:
    slug, admin = workspace(cluster)
    settings = cluster.settings
    site = make_site(settings, slug, "shop.example")
    servers = [cluster.a, cluster.b]
    visits, leads = 40, 40
    with receiver(keep_alive=True) as local:
        make_webhook_endpoint(settings, admin, ["lead.created", "message.created"], local.url)
        with ThreadPoolExecutor(8) as pool:
            tracked = list(pool.map(lambda n: _track(servers[n % 2], site, n), range(visits)))
            made = list(pool.map(lambda n: _lead(servers[n % 2], admin, n), range(leads)))
        # A client that sends again (through the other server) what was answered is not
        # counted twice: the events by their ids, the lead by its Idempotency-Key.
        visit_id, event_ids = tracked[0]
        again = {
            "siteKey": site,
            "sessionId": visit_id,
            "events": [{"id": event_id, "type": "click"} for event_id in event_ids],
        }
        assert cluster.b.post("/track/events/batch", json=again, headers=PAGE).status_code == 200
        once = {"X-API-KEY": admin, "Idempotency-Key": "order-42"}
        body = {"name": "Once", "email": "once@example.com"}
        first = cluster.a.post("/api/leads", json=body, headers=once)
        second = cluster.b.post("/api/leads", json=body, headers=once)
        assert first.status_code in (200, 201), first.text
        assert second.json()["data"]["id"] == first.json()["data"]["id"]
        made.append(str(first.json()["data"]["id"]))
        conversation_id = conversation(cluster.b, bearer(admin))
        messages = [
            post_message(servers[n % 2], bearer(admin), conversation_id, f"message {n}")
            for n in range(10)
        ]

        # Every job (here: each webhook delivery) is done, by one of the two workers.
        def delivered() -> bool:
            states = _delivery_states(settings, slug)
            return bool(states) and set(states) == {"delivered"}

        assert until(delivered, WAIT_SECONDS, cluster), _delivery_states(settings, slug)
        expected = sum(_delivery_states(settings, slug).values())
        assert until(lambda: len(local.received) >= expected, WAIT_SECONDS, cluster)
        time.sleep(0.5)  # a delivery sent twice would arrive by now
    _check_stored(settings, slug, tracked, made)
    _check_sent_once(local, made, messages)


def _delivery_states(settings: Settings, slug: str) -> Counter[str]:
    rows = fetch_rows(
        settings,
        "SELECT d.state AS state, count(*) AS n FROM webhook_deliveries d "
        "JOIN webhook_endpoints e ON e.id = d.endpoint_id "
        "JOIN workspaces w ON w.id = e.workspace_id WHERE w.slug = :slug GROUP BY d.state",
        slug=slug,
    )
    return Counter({row["state"]: int(row["n"]) for row in rows})


def _check_stored(
    settings: Settings, slug: str, tracked: list[tuple[str, list[str]]], leads: list[str]
) -> None:
    visit_ids = [visit_id for visit_id, _ in tracked]
    rows = fetch_rows(
        settings,
        "SELECT e.visit_id AS visit_id, e.client_id AS client_id FROM events e "
        "JOIN visits v ON v.id = e.visit_id JOIN sites s ON s.id = v.site_id "
        "JOIN workspaces w ON w.id = s.workspace_id WHERE w.slug = :slug",
        slug=slug,
    )
    stored = Counter((row["visit_id"], row["client_id"]) for row in rows)
    sent = Counter((visit_id, event_id) for visit_id, ids in tracked for event_id in ids)
    assert stored == sent
    assert len(set(visit_ids)) == len(visit_ids)
    rows = fetch_rows(
        settings,
        "SELECT l.id AS id FROM leads l JOIN workspaces w ON w.id = l.workspace_id "
        "WHERE w.slug = :slug",
        slug=slug,
    )
    assert sorted(row["id"] for row in rows) == sorted(leads)


def _check_sent_once(local: Receiver, leads: list[str], messages: list[str]) -> None:
    ids = Counter(request.headers["webhook-id"] for request in local.received)
    assert set(ids.values()) == {1}, "a webhook was sent twice"
    bodies = [json.loads(request.body) for request in local.received]
    created = Counter(
        body["data"]["lead"]["id"] for body in bodies if body["type"] == "lead.created"
    )
    assert created == Counter(leads)
    said = Counter(
        body["data"]["message_id"] for body in bodies if body["type"] == "message.created"
    )
    # The conversation's first message (the contact's) is announced too.
    assert set(messages) <= set(said)
    assert set(said.values()) == {1}
    assert len(said) == len(messages) + 1
