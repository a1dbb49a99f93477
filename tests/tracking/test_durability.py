"""Kill -9 the server while browsers send events: every event it answered 2xx for is stored,
and once a server runs again the visit counts every stored event exactly once."""

from __future__ import annotations

import signal
import threading
import time

import httpx

from leadline.config import Settings
from tests.fixtures.factories import fetch_rows, make_site
from tests.fixtures.server import free_port, serve, wait_until_up

ORIGIN = {"Origin": "https://shop.example"}


def test_every_acknowledged_event_survives_kill_9(settings: Settings) -> None:
    site = make_site(settings, "acme", "shop.example")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = serve(settings, port)
    acknowledged: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()
    try:
        wait_until_up(base, server)
        visit_id = httpx.post(
            f"{base}/track/session/start", json={"siteKey": site}, headers=ORIGIN
        ).json()["session_id"]

        def sender(worker: int) -> None:
            with httpx.Client(timeout=5) as client:
                n = 0
                while not stop.is_set():
                    ids = [f"w{worker}-{n}-{i}" for i in range(10)]
                    n += 1
                    body = {
                        "siteKey": site,
                        "sessionId": visit_id,
                        "events": [{"id": cid, "type": "page_view"} for cid in ids],
                    }
                    try:
                        response = client.post(
                            f"{base}/track/events/batch", json=body, headers=ORIGIN
                        )
                    except httpx.TransportError:
                        return  # the server is gone: this batch was never acknowledged
                    if response.is_success:
                        with lock:
                            acknowledged.extend(ids)

        threads = [threading.Thread(target=sender, args=(w,)) for w in range(4)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 30
        while len(acknowledged) < 300:
            assert time.monotonic() < deadline, "the server acknowledged too little"
            time.sleep(0.02)
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=10)
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
    finally:
        stop.set()
        if server.poll() is None:
            server.kill()
    stored = {row["client_id"] for row in fetch_rows(settings, "SELECT client_id FROM events")}
    missing = set(acknowledged) - stored
    assert not missing, f"{len(missing)} acknowledged events were lost"
    assert len(acknowledged) >= 300

    if not settings.is_sqlite:
        (kept,) = fetch_rows(settings, "SELECT count(*) AS n FROM visit_counts")
        assert kept["n"] > 0, "the killed server had no counts kept apart"
    # A server started again adds what the killed one kept apart to the visit.
    port = free_port()
    server = serve(settings, port)
    try:
        wait_until_up(f"http://127.0.0.1:{port}", server)
        deadline = time.monotonic() + 15
        while True:
            (visit,) = fetch_rows(
                settings, "SELECT events, page_views FROM visits WHERE id = :id", id=visit_id
            )
            if visit["events"] == len(stored) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    finally:
        server.kill()
        server.wait(timeout=10)
    assert (visit["events"], visit["page_views"]) == (len(stored), len(stored))
    assert fetch_rows(settings, "SELECT id FROM visit_counts") == []
