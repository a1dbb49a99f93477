"""The lead and capture writers: many requests, one transaction per group, every answer its
own; a failing order fails alone; a full queue refuses at once; and kill -9 loses nothing that
was answered 2xx."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.testclient import TestClient

from leadline.app import create_app
from leadline.audit import service as audit
from leadline.config import Settings
from leadline.db import Database, GroupCommit
from leadline.errors import LeadlineError, NotFound, ServiceUnavailable
from tests.fixtures.factories import fetch_rows, make_key, make_site, run_in_transaction
from tests.fixtures.server import free_port, serve, wait_until_up


class Echo(GroupCommit[str, str]):
    """Answers each order with itself, upper-cased; ``refused`` orders are refused alone,
    and a group holding ``broken`` fails as a whole."""

    def __init__(self, database: Database, **options: int) -> None:
        super().__init__(database, **options)
        self.group_sizes: list[int] = []

    async def apply(self, session: AsyncSession, orders: list[str]) -> list[str | LeadlineError]:
        await session.execute(text("SELECT 1"))
        self.group_sizes.append(len(orders))
        if "broken" in orders:
            raise RuntimeError("a broken order")
        return [NotFound(order) if order == "refused" else order.upper() for order in orders]


@pytest.fixture
def database(settings: Settings) -> Iterator[Database]:
    db = Database(settings)
    yield db
    asyncio.run(db.dispose())


def test_orders_queued_together_share_a_transaction(database: Database) -> None:
    async def scenario() -> tuple[list[object], list[int]]:
        echo = Echo(database)
        echo.start()
        orders = [f"o{n}" for n in range(50)] + ["refused", "broken"]
        answers = await asyncio.gather(*(echo.submit(o) for o in orders), return_exceptions=True)
        await echo.stop()
        assert echo.split_groups == 1
        return answers, echo.group_sizes

    answers, sizes = asyncio.run(scenario())
    assert answers[:50] == [f"O{n}" for n in range(50)]
    assert isinstance(answers[50], NotFound)
    assert isinstance(answers[51], RuntimeError)
    # All 52 came in one group, which failed for the broken one; each was then applied alone.
    assert sizes[0] == 52
    assert sizes[1:] == [1] * 52


def test_a_full_queue_is_refused_at_once(database: Database) -> None:
    async def scenario() -> list[object]:
        echo = Echo(database, capacity=3)
        echo.start()
        answers = await asyncio.gather(
            *(echo.submit(f"o{n}") for n in range(5)), return_exceptions=True
        )
        await echo.stop()
        return answers

    answers = asyncio.run(scenario())
    assert answers[:3] == ["O0", "O1", "O2"]
    assert all(isinstance(answer, ServiceUnavailable) for answer in answers[3:])


def test_a_stopped_writer_refuses(database: Database) -> None:
    async def scenario() -> None:
        echo = Echo(database)
        echo.start()
        await echo.stop()
        with pytest.raises(ServiceUnavailable, match="shutting down"):
            await echo.submit("late")

    asyncio.run(scenario())


BODY = {
    "name": "Jane Doe",
    "phone": "+31 6 12345678",
    "website": "example.com",
    "gclid": "Cj0KCQ-test",
    "utm_source": "google",
}


def test_concurrent_leads_are_each_stored_with_exact_counts_and_chain(
    settings: Settings, client: TestClient
) -> None:
    key = make_key(settings, "acme", "integration")
    headers = {"X-API-KEY": key}

    def create(n: int) -> httpx.Response:
        return client.post(
            "/api/leads", json={**BODY, "email": f"jane{n}@example.com"}, headers=headers
        )

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(create, range(120)))
    assert [answer.status_code for answer in answers] == [201] * 120
    ids = {answer.json()["data"]["id"] for answer in answers}
    assert len(ids) == 120
    rows = fetch_rows(settings, "SELECT id, email FROM leads")
    assert {row["id"] for row in rows} == ids
    # Each request got its own lead back.
    by_id = {row["id"]: row["email"] for row in rows}
    assert sorted(by_id.values()) == sorted(f"jane{n}@example.com" for n in range(120))
    (count,) = fetch_rows(settings, "SELECT lead_count FROM workspaces WHERE slug = 'acme'")
    assert count["lead_count"] == 120
    facets = {
        row["facet"]: row["count"]
        for row in fetch_rows(settings, "SELECT facet, count FROM lead_facets")
    }
    # The leads carry the same fields: each of their facets counts every one, once.
    assert facets
    assert set(facets.values()) == {120}
    audits = fetch_rows(
        settings, "SELECT seq, request_id FROM audit_events WHERE action = 'lead.created'"
    )
    assert len(audits) == 120
    assert len({row["request_id"] for row in audits}) == 120, "each entry names its request"
    assert sorted(row["seq"] for row in audits) == list(
        range(min(r["seq"] for r in audits), min(r["seq"] for r in audits) + 120)
    )
    report = run_in_transaction(settings, lambda session: audit.check_chains(session))
    assert report.problems == []
    assert report.events >= 120


def test_a_bad_lead_is_refused_before_the_writer(settings: Settings, client: TestClient) -> None:
    key = make_key(settings, "acme", "integration")
    answer = client.post("/api/leads", json={"email": "not an address"}, headers={"X-API-KEY": key})
    assert answer.status_code == 400
    assert fetch_rows(settings, "SELECT id FROM leads") == []


def test_captures_in_one_group_see_each_other(settings: Settings) -> None:
    """Two posts by the same person, queued together: the second joins the first's lead."""
    key = make_key(settings, "acme", "integration")
    with TestClient(create_app(settings)) as client:
        body = {"email": "sam@example.com", "name": "Sam", "message": "hello"}

        def post(_: int) -> httpx.Response:
            return client.post("/lead.capture", json=body, headers={"X-API-Key": key})

        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(post, range(8)))
    assert all(answer.status_code == 200 for answer in answers), [a.text for a in answers]
    outcomes = fetch_rows(settings, "SELECT outcome, lead_id FROM lead_submissions")
    assert len(outcomes) == 8
    assert sorted(row["outcome"] for row in outcomes) == ["created"] + ["merged"] * 7
    assert len({row["lead_id"] for row in outcomes}) == 1
    assert len(fetch_rows(settings, "SELECT id FROM leads")) == 1


# ---------------------------------------------------------------------------------- kill -9


def _hammer(base: str, send: object, workers: int = 4) -> tuple[list[str], threading.Event]:
    acknowledged: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def sender(worker: int) -> None:
        with httpx.Client(timeout=5) as client:
            n = 0
            while not stop.is_set():
                n += 1
                try:
                    answered = send(client, f"w{worker}-{n}")  # type: ignore[operator]
                except httpx.TransportError:
                    return  # the server is gone: this one was never acknowledged
                if answered is not None:
                    with lock:
                        acknowledged.append(answered)

    for worker in range(workers):
        threading.Thread(target=sender, args=(worker,), daemon=True).start()
    return acknowledged, stop


@pytest.mark.parametrize("route", ["/api/leads", "/lead.capture"])
def test_every_acknowledged_lead_survives_kill_9(settings: Settings, route: str) -> None:
    key = make_key(settings, "acme", "integration")
    make_site(settings, "acme", "shop.example")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = serve(settings, port)

    def send(client: httpx.Client, tag: str) -> str | None:
        email = f"{tag}@example.com"
        if route == "/api/leads":
            response = client.post(
                f"{base}/api/leads", json={"email": email}, headers={"X-API-KEY": key}
            )
        else:
            response = client.post(
                f"{base}/lead.capture", json={"email": email}, headers={"X-API-Key": key}
            )
        return email if response.is_success else None

    stop = threading.Event()
    acknowledged: list[str] = []
    try:
        wait_until_up(base, server)
        acknowledged, stop = _hammer(base, send)
        deadline = time.monotonic() + 60
        while len(acknowledged) < 100:
            assert time.monotonic() < deadline, "the server acknowledged too little"
            time.sleep(0.02)
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=10)
    finally:
        stop.set()
        if server.poll() is None:
            server.kill()
    time.sleep(0.5)  # the senders see the connection go
    stored = {row["email"] for row in fetch_rows(settings, "SELECT email FROM leads")}
    missing = set(acknowledged) - stored
    assert not missing, f"{len(missing)} acknowledged leads were lost"
