"""PulseGate's GET /health: 200 with the time while the database answers, 503 with the reason
when it cannot be reached or does not answer in time."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from leadline import __version__
from leadline.app import create_app
from leadline.config import Settings
from leadline.db import Database
from leadline.surfaces.pulsegate import health


def test_ok_while_the_database_answers(client: TestClient) -> None:
    before = time.time_ns() // 1_000_000
    answer = client.get("/health")
    after = time.time_ns() // 1_000_000
    assert answer.status_code == 200
    body = answer.json()
    assert body == {"status": "ok", "timestamp": body["timestamp"], "version": __version__}
    assert isinstance(body["timestamp"], int)
    assert before <= body["timestamp"] <= after
    assert answer.headers["cache-control"] == "no-store"


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_unavailable_when_the_database_cannot_be_reached() -> None:
    # Nothing listens there: every connection is refused.
    url = f"postgresql://postgres@127.0.0.1:{_closed_port()}/leadline"
    with TestClient(create_app(Settings(database_url=url))) as client:
        answer = client.get("/health")
    assert answer.status_code == 503
    body = answer.json()
    assert body == {
        "status": "unavailable",
        "timestamp": body["timestamp"],
        "error": "database unreachable",
    }
    assert isinstance(body["timestamp"], int)
    assert "127.0.0.1" not in answer.text  # where the database lives is not told to the world


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that takes connections and never says a word, like a hung database server."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port: int = server.getsockname()[1]
        yield port


def test_a_hung_database_is_reported_within_the_timeout(
    silent_server: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(health, "DATABASE_TIMEOUT_SECONDS", 0.3)
    database = Database(Settings(database_url=f"postgresql://u@127.0.0.1:{silent_server}/x"))

    async def probe() -> tuple[str | None, float]:
        started = time.monotonic()
        try:
            return await health._database_problem(database), time.monotonic() - started
        finally:
            await database.dispose()

    problem, took = asyncio.run(probe())
    assert problem == "database did not answer within 0.3 s"
    assert took < 2
