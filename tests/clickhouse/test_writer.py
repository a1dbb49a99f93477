"""The tracking writer with ClickHouse: events (and visit starts) go there, acknowledged
before the request is answered; visits and their counters stay in the SQL database; a beacon
sent again is counted once; a transaction that fails takes its rows back out of ClickHouse;
and the analytics routes answer from ClickHouse over HTTP."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from leadline.app import create_app
from leadline.clickhouse.client import ClickHouse, open_clickhouse
from leadline.config import Settings
from leadline.sites.service import site_by_key
from leadline.tracking import prepare as tracking
from leadline.tracking.groups import apply_group
from leadline.tracking.schemas import EventIn, VisitStart
from leadline.tracking.store import open_store
from leadline.tracking.store_clickhouse import ClickHouseStore
from tests.analytics.test_traffic import UA, _run
from tests.fixtures.factories import fetch_rows, make_key, make_site
from tests.fixtures.killed import kill_9_while_sending
from tests.fixtures.server import free_port

ORIGIN = {"Origin": "https://shop.example", "User-Agent": UA}


@pytest.fixture
def app_client(settings: Settings, clickhouse_url: str) -> Iterator[TestClient]:
    with TestClient(
        create_app(settings.model_copy(update={"clickhouse_url": clickhouse_url}))
    ) as client:
        yield client


def _events(clickhouse: ClickHouse) -> list[tuple[str, str, str]]:
    return [
        (str(v), str(c), str(p))
        for v, c, p in clickhouse.query(
            "SELECT visit_id, client_id, path FROM events ORDER BY client_id"
        )
    ]


def test_events_go_to_clickhouse_and_visits_stay_in_the_database(
    settings: Settings, clickhouse: ClickHouse, app_client: TestClient
) -> None:
    site = make_site(settings, "acme", "shop.example")
    started = app_client.post(
        "/track/session/start",
        json={"siteKey": site, "url": "https://shop.example/offer?gclid=x1"},
        headers=ORIGIN,
    )
    assert started.status_code == 200, started.text
    visit_id = started.json()["session_id"]
    batch = {
        "siteKey": site,
        "sessionId": visit_id,
        "events": [
            {"id": "e1", "type": "page_view", "url": "https://shop.example/offer"},
            {"id": "e2", "type": "page_view", "url": "https://shop.example/contact"},
            {"id": "e3", "type": "click"},
        ],
    }
    for _ in range(2):  # the second time is a beacon sent again
        answered = app_client.post("/track/events/batch", json=batch, headers=ORIGIN)
        assert answered.status_code == 200, answered.text
    # Answered, so stored: nothing to wait for.
    assert _events(clickhouse) == [
        (visit_id, "e1", "/offer"),
        (visit_id, "e2", "/contact"),
        (visit_id, "e3", ""),
    ]
    ((channel, platform, bot),) = clickhouse.query(
        "SELECT channel, platform, bot FROM visits WHERE id = {id:String}",
        {"id": visit_id},
    )
    assert (channel, platform, bot) == ("paid", "googleads", 0)
    assert fetch_rows(settings, "SELECT id FROM events") == []
    (visit,) = fetch_rows(
        settings, "SELECT events, page_views, clicks FROM visits WHERE id = :id", id=visit_id
    )
    assert (visit["events"], visit["page_views"], visit["clicks"]) == (3, 2, 1)

    # A crawler's visit and events are stored, marked as a bot's.
    crawler = {**ORIGIN, "User-Agent": "Googlebot/2.1 (+http://www.google.com/bot.html)"}
    bot_visit = app_client.post(
        "/track/session/start",
        json={"siteKey": site, "url": "https://shop.example/"},
        headers=crawler,
    ).json()["session_id"]
    sent = app_client.post(
        "/track/events/batch",
        json={
            "siteKey": site,
            "sessionId": bot_visit,
            "events": [{"id": "b1", "type": "page_view", "url": "https://shop.example/"}],
        },
        headers=crawler,
    )
    assert sent.status_code == 200, sent.text
    assert clickhouse.query(
        "SELECT bot FROM events WHERE visit_id = {id:String}", {"id": bot_visit}
    ) == [(1,)]
    assert clickhouse.query("SELECT bot FROM visits WHERE id = {id:String}", {"id": bot_visit}) == [
        (1,)
    ]

    # The analytics routes answer from ClickHouse (people's visits and events only).
    key = make_key(settings, "acme", "admin")
    today = datetime.now(UTC).date().isoformat()
    headers = {"X-API-Key": key}
    params = {"from": today, "to": today}
    overview = app_client.get("/analytics/overview", params=params, headers=headers).json()
    assert overview["visits"]["value"] == 1
    assert overview["visitors"]["value"] == 1
    assert overview["page_views"]["value"] == 2
    assert overview["events"]["value"] == 3
    pages = app_client.get("/analytics/pages/top", params=params, headers=headers).json()
    assert {p["path"]: p["page_views"]["value"] for p in pages["pages"]} == {
        "/offer": 1,
        "/contact": 1,
    }
    sources = app_client.get("/analytics/sources", params=params, headers=headers).json()
    assert sources["platforms"] == [{"name": "googleads", "visits": {"value": 1, "previous": 0}}]
    # Were ClickHouse's rows gone, the routes would say so: they read nothing else (the raw
    # events and the hourly counts ClickHouse keeps of them).
    clickhouse.command("TRUNCATE TABLE events")
    clickhouse.command("TRUNCATE TABLE events_hourly")
    overview = app_client.get("/analytics/overview", params=params, headers=headers).json()
    assert overview["events"]["value"] == 0
    assert overview["visits"]["value"] == 1


class _Refused(Exception):
    pass


def test_a_transaction_that_fails_takes_its_rows_back_out_of_clickhouse(
    settings: Settings, clickhouse: ClickHouse, clickhouse_url: str
) -> None:
    site_key = make_site(settings, "acme", "shop.example")
    site = _run(settings, lambda session: site_by_key(session, site_key))
    assert site is not None
    client = tracking.Client(ip="203.0.113.9", user_agent=UA, origin_host="shop.example")
    now = datetime.now(UTC)
    store = ClickHouseStore(open_store(settings.sync_url), open_clickhouse(clickhouse_url))
    try:
        store.begin()
        (begun,) = apply_group(
            store,
            [tracking.prepare_start(site, VisitStart(siteKey=site_key), client, "s", now)],
            now,
        ).answers
        store.commit()
        assert not isinstance(begun, Exception)
        events = [EventIn(type="page_view", id="p1", url="https://shop.example/a")]
        work = tracking.prepare_events(site, begun.visit_id, events, client, now)
        inner_commit = store.inner.commit

        def refuse() -> None:
            # ClickHouse has the rows by now; the SQL database refuses the commit.
            assert _events(clickhouse) == [(begun.visit_id, "p1", "/a")]
            raise _Refused

        store.inner.commit = refuse  # type: ignore[method-assign]
        store.begin()
        apply_group(store, [work], now)
        with pytest.raises(_Refused):
            store.commit()
        store.rollback()
        assert _events(clickhouse) == []
        # Applied again, the event is new, stored once and counted once.
        store.inner.commit = inner_commit  # type: ignore[method-assign]
        store.begin()
        (answer,) = apply_group(store, [work], now).answers
        store.commit()
        assert not isinstance(answer, Exception)
        assert answer.extra == {"accepted": 1}
    finally:
        store.close()
    assert _events(clickhouse) == [(begun.visit_id, "p1", "/a")]
    (visit,) = fetch_rows(settings, "SELECT events FROM visits WHERE id = :id", id=begun.visit_id)
    assert visit["events"] == 1
    # The hourly aggregates took the rows back too: the event counts once there as well.
    assert clickhouse.query("SELECT sum(events) FROM events_hourly") == [(1,)]
    assert clickhouse.query("SELECT sum(visits) FROM visits_hourly WHERE dimension = 'total'") == [
        (1,)
    ]


READ_BACK = """
import sys
from leadline.clickhouse.client import open_clickhouse
client = open_clickhouse(sys.argv[1])
for (client_id,) in client.query("SELECT client_id FROM events"):
    print(client_id)
"""


def test_every_acknowledged_event_is_in_clickhouse_after_kill_9(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server keeps ClickHouse (chDB) in a directory of its own; after kill -9 another
    process opens it and finds every event the server answered 2xx for, once."""
    url = f"chdb://{tmp_path / 'clickhouse'}?database=killed"
    monkeypatch.setenv("LEADLINE_CLICKHOUSE_URL", url)
    site = make_site(settings, "acme", "shop.example")
    acknowledged = kill_9_while_sending(
        settings, site, senders=3, at_least=200, seconds=60, headers=ORIGIN
    ).acknowledged
    found = subprocess.run(
        [sys.executable, "-c", READ_BACK, url], capture_output=True, text=True, check=True
    ).stdout.split()
    missing = set(acknowledged) - set(found)
    assert not missing, f"{len(missing)} acknowledged events are not in ClickHouse"
    assert len(found) == len(set(found)), "no event is stored twice"
    assert len(acknowledged) >= 200
    assert fetch_rows(settings, "SELECT id FROM events") == []


def test_without_clickhouse_the_routes_that_need_it_answer_503(settings: Settings) -> None:
    """Nothing listens at the configured address: the tracking routes and the traffic
    reports answer 503 with Retry-After; nothing is stored in part."""
    down = f"http://127.0.0.1:{free_port()}/leadline"
    site = make_site(settings, "acme", "shop.example")
    key = make_key(settings, "acme", "admin")
    with TestClient(create_app(settings.model_copy(update={"clickhouse_url": down}))) as client:
        started = client.post("/track/session/start", json={"siteKey": site}, headers=ORIGIN)
        assert started.status_code == 503, started.text
        assert started.headers["Retry-After"]
        report = client.get("/analytics/overview", headers={"X-API-Key": key})
        assert report.status_code == 503, report.text
        assert report.headers["Retry-After"] == "5"
    assert fetch_rows(settings, "SELECT id FROM visits") == []


def test_the_anomaly_check_reads_the_events_from_clickhouse(
    settings: Settings, clickhouse_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from leadline.analytics import anomalies_service
    from leadline.db import Database
    from leadline.tracking import clickhouse_repository

    make_site(settings, "acme", "shop.example")
    asked: list[str] = []
    read = clickhouse_repository.events_by_hour

    async def counted(*args: object) -> dict[datetime, int]:
        asked.append(str(args[2]))
        return await read(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(clickhouse_repository, "events_by_hour", counted)

    async def run() -> None:
        db = Database(settings.model_copy(update={"clickhouse_url": clickhouse_url}))
        try:
            await anomalies_service.check(db)
        finally:
            await db.dispose()

    asyncio.run(run())
    assert len(asked) == 1  # the one site's events per hour, from ClickHouse
