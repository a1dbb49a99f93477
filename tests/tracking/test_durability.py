"""Kill -9 the server while browsers send events: every event it answered 2xx for is stored,
and once a server runs again the visit counts every stored event exactly once."""

from __future__ import annotations

import time

from leadline.config import Settings
from tests.fixtures.factories import fetch_rows, make_site
from tests.fixtures.killed import kill_9_while_sending
from tests.fixtures.server import free_port, serve, wait_until_up


def test_every_acknowledged_event_survives_kill_9(settings: Settings) -> None:
    site = make_site(settings, "acme", "shop.example")
    killed = kill_9_while_sending(settings, site, senders=4, at_least=300, seconds=30)
    acknowledged, visit_id = killed.acknowledged, killed.visit_id
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
