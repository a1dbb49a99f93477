"""The tracking writer: many requests per transaction, answered only after commit, refused
with 503 when its queue is full; the daily rollups and visitor records it keeps; the privacy
signals and fingerprints a site may honour."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from starlette.testclient import TestClient
from typer.testing import CliRunner

from leadline.cli import app
from leadline.config import Settings
from leadline.db import Database, checkpoints
from leadline.errors import NotFound, ServiceUnavailable
from leadline.kit.time import utcnow
from leadline.sites.service import SiteInfo, site_by_key
from leadline.tracking import groups, identity
from leadline.tracking import prepare as tracking
from leadline.tracking.schemas import EventIn, VisitEnd, VisitStart
from leadline.tracking.store import VisitState
from leadline.tracking.store_postgres import _literal
from leadline.tracking.store_sqlite import SqliteCheckpointer, SqliteStore
from leadline.tracking.writer import TrackingWriter
from tests.fixtures.factories import fetch_rows, make_site
from tests.fixtures.waiting import eventually, wait_until

UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/140.0 Safari/537.36"
)
ORIGIN = {"Origin": "https://shop.example", "User-Agent": UA}
FINGERPRINT = "ab" * 32


def start(client: TestClient, site: str, headers: dict[str, str] | None = None, **body: Any) -> Any:
    payload = {"siteKey": site, "url": "https://shop.example/", **body}
    response = client.post(
        "/track/session/start", json=payload, headers={**ORIGIN, **(headers or {})}
    )
    assert response.status_code == 200, response.text
    return response.json()


def send(client: TestClient, site: str, visit_id: str, events: list[dict[str, Any]]) -> Any:
    response = client.post(
        "/track/events/batch",
        json={"siteKey": site, "sessionId": visit_id, "events": events},
        headers=ORIGIN,
    )
    assert response.status_code == 200, response.text
    return response.json()


def daily(settings: Settings) -> dict[tuple[str, str], tuple[int, int, int, int]]:
    rows = fetch_rows(settings, "SELECT * FROM tracking_daily")
    return {
        (row["dimension"], row["value"]): (
            row["visits"],
            row["visitors"],
            row["page_views"],
            row["events"],
        )
        for row in rows
    }


# ------------------------------------------------------------------------------ rollups


def test_daily_rollups_count_what_was_stored(client: TestClient, settings: Settings) -> None:
    site = make_site(settings, "acme", "shop.example")
    first = start(client, site, referrer="https://www.google.com/")
    events = [
        {"id": "e1", "type": "page_view", "url": "https://shop.example/a?x=1"},
        {"id": "e2", "type": "page_view", "url": "https://shop.example/b"},
        {"id": "e3", "type": "click", "data": {"x": 1, "y": 2}},
    ]
    assert send(client, site, first["session_id"], events)["accepted"] == 3
    # The same batch again (a beacon sent twice) stores and counts nothing.
    assert send(client, site, first["session_id"], events)["accepted"] == 0
    clicked = start(
        client, site, url="https://shop.example/offer?gclid=G1&utm_source=ads&utm_campaign=fall"
    )
    assert clicked["session_id"] != first["session_id"]
    assert clicked["visitor_id"] == first["visitor_id"]
    send(client, site, clicked["session_id"], [{"type": "page_view", "url": "/offer"}])
    bot = client.post(
        "/track/session/start",
        json={"siteKey": site, "url": "https://shop.example/"},
        headers={**ORIGIN, "User-Agent": "Googlebot/2.1 (+http://www.google.com/bot.html)"},
    ).json()
    send(client, site, bot["session_id"], [{"type": "page_view", "url": "/"}])

    counts = daily(settings)
    # Two visits of one visitor (the bot's is kept aside), three page views, four events.
    assert counts[("total", "")] == (2, 1, 3, 4)
    assert counts[("channel", "search")] == (1, 1, 0, 0)
    assert counts[("channel", "paid")] == (1, 0, 0, 0)  # the visitor was counted already today
    assert counts[("source", "www.google.com")] == (1, 1, 0, 0)
    assert counts[("source", "ads")] == (1, 0, 0, 0)
    assert counts[("campaign", "fall")] == (1, 0, 0, 0)
    assert counts[("referrer", "www.google.com")] == (1, 1, 0, 0)
    assert counts[("landing", "/offer")] == (1, 0, 0, 0)
    assert counts[("browser", "Chrome")] == (2, 1, 0, 0)
    assert counts[("page", "/a")] == (0, 0, 1, 0)
    assert counts[("page", "/offer")] == (0, 0, 1, 0)
    assert counts[("event", "page_view")] == (0, 0, 0, 3)
    assert counts[("event", "click")] == (0, 0, 0, 1)
    (bot_row,) = [key for key in counts if key[0] == "bot"]
    assert counts[bot_row] == (1, 0, 0, 0)
    assert ("page", "/") not in counts

    # The totals agree with the raw rows they summarise.
    (raw,) = fetch_rows(
        settings,
        "SELECT count(*) AS events, sum(CASE WHEN e.type = 'page_view' THEN 1 ELSE 0 END) AS views"
        " FROM events e JOIN visits s ON s.id = e.visit_id WHERE s.bot_reason IS NULL",
    )
    assert (raw["events"], raw["views"]) == (4, 3)
    (day,) = {row["day"] for row in fetch_rows(settings, "SELECT day FROM tracking_daily")}
    assert str(day) == utcnow().date().isoformat()


# ------------------------------------------------------------------------------ visitors


def test_a_visitor_keeps_its_first_and_last_touch(client: TestClient, settings: Settings) -> None:
    site = make_site(settings, "acme", "shop.example")
    granted = {"visitorId": "v_touch_12345", "consent": {"mode": "granted"}}
    start(
        client, site, url="https://shop.example/?utm_source=newsletter&utm_medium=email", **granted
    )
    start(client, site, **granted)  # direct: no touch
    start(client, site, url="https://shop.example/p?gclid=CLICK-2", **granted)
    start(client, site, **granted)  # direct again

    (visitor,) = fetch_rows(settings, "SELECT * FROM visitors")
    assert (visitor["visitor_id"], visitor["visits"], visitor["identified"]) == (
        "v_touch_12345",
        4,
        True,
    )
    first, last = json.loads(visitor["first_touch"]), json.loads(visitor["last_touch"])
    assert (first["utm_source"], first["utm_medium"]) == ("newsletter", "email")
    assert "gclid" not in first
    assert (last["gclid"], last["channel"], last["path"]) == ("CLICK-2", "paid", "/p")
    assert "clicked_at" in last
    assert visitor["first_seen_at"] <= visitor["first_touch_at"] < visitor["last_touch_at"]
    assert visitor["last_touch_at"] < visitor["last_seen_at"]
    visits = fetch_rows(settings, "SELECT earlier_visits FROM visits ORDER BY started_at")
    assert [row["earlier_visits"] for row in visits] == [0, 1, 2, 3]


# ----------------------------------------------------------------------- privacy signals


def test_do_not_track_and_gpc_are_honoured_where_the_site_asks(
    client: TestClient, settings: Settings
) -> None:
    strict = make_site(settings, "acme", "shop.example", respect_dnt=True, respect_gpc=True)
    lax = make_site(settings, "acme", "shop.example")
    granted = {
        "visitorId": "v_privacy_1234",
        "consent": {"mode": "granted", "source": "gcm"},
        "fbp": "fb.1.1700000000000.42",
        "ga": {"clientId": "1.2", "sessionId": "3"},
    }
    flags = "ad_storage, ad_user_data, ad_personalization, analytics_storage"

    def stored(answer: dict[str, Any]) -> dict[str, Any]:
        (row,) = fetch_rows(
            settings,
            f"SELECT {flags}, consent_source, identified, fbp, ga4cid FROM visits WHERE id = :id",
            id=answer["session_id"],
        )
        return row

    dnt = start(client, strict, headers={"DNT": "1"}, **granted)
    assert dnt["visitor_id"].startswith("anon_")
    assert stored(dnt) == {
        "ad_storage": False,
        "ad_user_data": False,
        "ad_personalization": False,
        "analytics_storage": False,
        "consent_source": "dnt",
        "identified": False,
        "fbp": None,
        "ga4cid": None,
    }
    assert stored(start(client, strict, dnt=True, **granted))["consent_source"] == "dnt"

    gpc = start(client, strict, headers={"Sec-GPC": "1"}, **granted)
    assert gpc["visitor_id"] == "v_privacy_1234"  # analytics consent stands
    row = stored(gpc)
    assert (row["ad_storage"], row["ad_user_data"], row["ad_personalization"]) == (
        False,
        False,
        False,
    )
    assert (row["analytics_storage"], row["consent_source"], row["fbp"]) == (True, "gpc", None)
    assert stored(start(client, strict, gpc=True, **granted))["consent_source"] == "gpc"

    # A site that does not ask keeps what the page's consent said.
    plain = stored(start(client, lax, headers={"DNT": "1", "Sec-GPC": "1"}, **granted))
    assert (plain["ad_storage"], plain["consent_source"], plain["fbp"]) == (
        True,
        "gcm",
        "fb.1.1700000000000.42",
    )


# --------------------------------------------------------------------------- fingerprints


def test_a_fingerprint_names_visitor_and_device_with_consent_where_the_site_allows(
    client: TestClient, settings: Settings
) -> None:
    site = make_site(settings, "acme", "shop.example", fingerprinting=True)
    other = make_site(settings, "acme", "shop.example")
    granted = {"consent": {"mode": "granted"}, "fingerprintId": FINGERPRINT}

    first = start(client, site, visitorId="v_cookie_5678", **granted)
    again = start(client, site, **granted)  # storage cleared: the fingerprint still knows it
    (site_id,) = {r["site_id"] for r in fetch_rows(settings, "SELECT site_id FROM visits")}
    visitor, device = identity.fingerprint_ids(site_id, FINGERPRINT, UA)
    assert first["visitor_id"] == again["visitor_id"] == visitor
    rows = fetch_rows(settings, "SELECT device_id, earlier_visits FROM visits ORDER BY started_at")
    assert [(r["device_id"], r["earlier_visits"]) for r in rows] == [(device, 0), (device, 1)]

    denied = start(client, site, consent={"mode": "denied"}, fingerprintId=FINGERPRINT)
    assert denied["visitor_id"].startswith("anon_")
    off = start(client, other, visitorId="v_cookie_5678", **granted)
    assert off["visitor_id"] == "v_cookie_5678"
    (row,) = fetch_rows(
        settings,
        "SELECT count(*) AS n FROM visits WHERE device_id IS NOT NULL",
    )
    assert row["n"] == 2

    bad = client.post(
        "/track/session/start",
        json={"siteKey": site, "url": "https://shop.example/", "fingerprintId": "not-hex"},
        headers=ORIGIN,
    )
    assert bad.status_code == 400
    assert "fingerprintId" in bad.json()["error"]


# ------------------------------------------------------------------------- the writer


@contextlib.contextmanager
def writes_blocked(settings: Settings) -> Iterator[None]:
    """Hold the database's write lock (SQLite) or the events table (PostgreSQL)."""
    if settings.is_sqlite:
        connection = sqlite3.connect(make_url(settings.sync_url).database or "")
        connection.isolation_level = None
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            connection.execute("ROLLBACK")
            connection.close()
        return
    import psycopg

    url = make_url(settings.sync_url).set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(url) as connection:
        connection.execute("LOCK TABLE events IN ACCESS EXCLUSIVE MODE")
        yield
        connection.rollback()


@contextlib.asynccontextmanager
async def running(sync_url: str, *, capacity: int, **options: Any) -> AsyncIterator[TrackingWriter]:
    writer = TrackingWriter(sync_url, capacity=capacity, **options)
    writer.start()
    try:
        yield writer
    finally:
        await writer.stop()


async def taken(writer: TrackingWriter, *, of: int) -> None:
    """Return once the tasks just created have queued their work (``of`` events in all) and
    the writer has taken some of it: while writes are blocked, that is its group waiting for
    the lock, and whatever is queued from now on goes in a later group."""
    # A new task runs up to its first wait before the task that created it resumes, and
    # submit() queues its work before it first waits.
    await asyncio.sleep(0)
    await eventually(lambda: writer.waiting < of, "the writer takes a group")


def _site(settings: Settings, site_key: str) -> SiteInfo:
    async def find() -> SiteInfo:
        database = Database(settings)
        try:
            async with database.transaction() as session:
                found = await site_by_key(session, site_key)
        finally:
            await database.dispose()
        assert found is not None
        return found

    return asyncio.run(find())


CLIENT = tracking.Client(ip="203.0.113.9", user_agent=UA, origin_host="shop.example")


def _events(site: SiteInfo, visit_id: str, n: int, tag: str) -> tracking.EventsWork:
    events = [EventIn(type="click", id=f"{tag}-{i}") for i in range(n)]
    return tracking.prepare_events(site, visit_id, events, CLIENT, utcnow())


def test_a_full_queue_is_refused_and_nothing_queued_is_lost(settings: Settings) -> None:
    site = _site(settings, make_site(settings, "acme", "shop.example"))

    async def scenario() -> tuple[Any, ...]:
        async with running(settings.sync_url, capacity=100) as writer:
            begun = tracking.prepare_start(
                site, VisitStart(siteKey="k"), CLIENT, "secret", utcnow()
            )
            visit = await writer.submit(begun)
            with writes_blocked(settings):
                # The first batch is taken and waits for the lock; the next ones queue up.
                first = asyncio.create_task(writer.submit(_events(site, visit.visit_id, 10, "a")))
                await taken(writer, of=10)
                queued = [
                    asyncio.create_task(writer.submit(_events(site, visit.visit_id, 10, f"q{i}")))
                    for i in range(10)
                ]
                await asyncio.sleep(0)  # each task queues its batch before this returns
                assert writer.waiting == 100
                with pytest.raises(ServiceUnavailable) as refused:
                    await writer.submit(_events(site, visit.visit_id, 1, "over"))
                transactions_before = writer.transactions
            answers = await asyncio.gather(first, *queued)
            return visit, refused.value, answers, writer.transactions - transactions_before

    visit, refused, answers, transactions = asyncio.run(scenario())
    assert refused.status_code == 503
    assert refused.retry_after == 1
    assert "waiting to be stored" in refused.message
    assert [answer.extra["accepted"] for answer in answers] == [10] * 11
    # Everything queued behind the lock went in together: at most two more transactions.
    assert transactions <= 2
    (row,) = fetch_rows(
        settings,
        "SELECT count(*) AS n FROM events WHERE visit_id = :id",
        id=visit.visit_id,
    )
    assert row["n"] == 110
    (visit_row,) = fetch_rows(
        settings, "SELECT events, clicks FROM visits WHERE id = :id", id=visit.visit_id
    )
    assert (visit_row["events"], visit_row["clicks"]) == (110, 110)


def test_an_unknown_session_fails_alone(settings: Settings) -> None:
    site = _site(settings, make_site(settings, "acme", "shop.example"))

    async def scenario() -> list[Any]:
        async with running(settings.sync_url, capacity=1_000) as writer:
            visit = await writer.submit(
                tracking.prepare_start(site, VisitStart(siteKey="k"), CLIENT, "s", utcnow())
            )
            with writes_blocked(settings):
                tasks = [
                    asyncio.create_task(writer.submit(_events(site, session, 2, session)))
                    for session in (visit.visit_id, "no-such-visit", visit.visit_id)
                ]
                await taken(writer, of=6)
            return await asyncio.gather(*tasks, return_exceptions=True)

    good, missing, also_good = asyncio.run(scenario())
    assert good.extra == {"accepted": 2}
    assert also_good.extra == {"accepted": 0}  # same ids
    assert missing.status_code == 404
    assert "no-such-visit" in missing.message


def test_a_request_the_database_refuses_fails_alone(settings: Settings) -> None:
    """A write error fails the group's transaction; each request is then tried on its own, so
    only the one that caused it is refused."""
    site = _site(settings, make_site(settings, "acme", "shop.example"))

    async def scenario() -> list[Any]:
        async with running(settings.sync_url, capacity=1_000) as writer:
            visit = await writer.submit(
                tracking.prepare_start(site, VisitStart(siteKey="k"), CLIENT, "s", utcnow())
            )
            poison = _events(site, visit.visit_id, 1, "poison")
            # A value no driver can store: the database refuses the whole statement.
            poison.rows[0].data = object()  # type: ignore[assignment]
            with writes_blocked(settings):
                tasks = [
                    asyncio.create_task(writer.submit(work))
                    for work in (
                        _events(site, visit.visit_id, 2, "before"),
                        poison,
                        _events(site, visit.visit_id, 3, "after"),
                    )
                ]
                await taken(writer, of=6)
            return await asyncio.gather(*tasks, return_exceptions=True)

    before, refused, after = asyncio.run(scenario())
    assert before.extra == {"accepted": 2}
    assert after.extra == {"accepted": 3}
    assert isinstance(refused, ServiceUnavailable)
    assert refused.retry_after == 5
    (row,) = fetch_rows(settings, "SELECT count(*) AS n FROM events")
    assert row["n"] == 5
    # The visit counts what was stored, and only that.
    (visit_row,) = fetch_rows(settings, "SELECT events, clicks FROM visits")
    assert (visit_row["events"], visit_row["clicks"]) == (5, 5)


def test_a_group_whose_commit_fails_leaves_nothing_of_it_remembered(
    settings: Settings,
) -> None:
    """A group changes the visits it remembers in place; when its commit fails, the writer
    forgets them, so the next group reads the visit from the database and counts from what was
    stored (were the changed visit kept, its revision would no longer match the database's and
    the next group would have to be applied twice)."""
    site = _site(settings, make_site(settings, "acme", "shop.example"))

    async def scenario() -> tuple[TrackingWriter, Any, Any]:
        async with running(settings.sync_url, capacity=1_000) as writer:
            visit = await writer.submit(
                tracking.prepare_start(site, VisitStart(siteKey="k"), CLIENT, "s", utcnow())
            )
            await writer.submit(_events(site, visit.visit_id, 2, "a"))
            store = writer._store
            assert store is not None
            commit = store.commit
            failed: list[bool] = []

            def fails_once() -> None:
                if not failed:
                    failed.append(True)
                    raise RuntimeError("the connection was lost at the commit")
                commit()

            store.commit = fails_once  # type: ignore[method-assign]
            lost = await asyncio.gather(
                writer.submit(_events(site, visit.visit_id, 3, "b")), return_exceptions=True
            )
            after = await writer.submit(_events(site, visit.visit_id, 1, "c"))
            return writer, lost[0], after

    writer, lost, after = asyncio.run(scenario())
    assert isinstance(lost, ServiceUnavailable)
    assert after.extra == {"accepted": 1}
    assert writer.stale_groups == 0
    (row,) = fetch_rows(settings, "SELECT events, clicks FROM visits")
    assert (row["events"], row["clicks"]) == (3, 3)
    (stored,) = fetch_rows(settings, "SELECT count(*) AS n FROM events")
    assert stored["n"] == 3


def _execute(settings: Settings, sql: str, **params: Any) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(settings.sync_url)
    try:
        with engine.begin() as conn:
            conn.execute(text(sql), params)
    finally:
        engine.dispose()


def test_a_remembered_visit_is_written_without_a_read(settings: Settings) -> None:
    site = _site(settings, make_site(settings, "acme", "shop.example"))

    async def scenario() -> tuple[TrackingWriter, Any, list[str]]:
        async with running(settings.sync_url, capacity=1_000) as writer:
            visit = await writer.submit(
                tracking.prepare_start(site, VisitStart(siteKey="k"), CLIENT, "s", utcnow())
            )
            assert writer._store is not None
            store = writer._store
            reads: list[str] = []
            load = store.load_visits

            def counted(visit_ids: Any) -> Any:
                reads.extend(visit_ids)
                return load(visit_ids)

            store.load_visits = counted  # type: ignore[method-assign]
            for tag in ("a", "b", "c"):
                await writer.submit(_events(site, visit.visit_id, 2, tag))
            ended = await writer.submit(
                tracking.prepare_end(
                    site,
                    VisitEnd(siteKey="k", sessionId=visit.visit_id, maxScroll=80),
                    CLIENT,
                )
            )
            return writer, ended, reads

    writer, ended, reads = asyncio.run(scenario())
    assert reads == []
    assert writer.stale_groups == 0
    (row,) = fetch_rows(
        settings,
        "SELECT events, clicks, max_scroll, engagement_score, revision FROM visits",
    )
    assert (row["events"], row["clicks"], row["max_scroll"]) == (6, 6, 80)
    assert row["engagement_score"] == ended.extra["engagement_score"]
    assert row["revision"] == 4  # three groups of events and the end


def test_a_writer_whose_connection_was_cut_carries_on_with_a_new_one(settings: Settings) -> None:
    """PostgreSQL: the writer's statements are prepared on its connection; when the server
    ends that connection, the requests of the group that found it gone are applied again on a
    new one, whose statements are prepared anew, and nothing is lost or counted twice."""
    if settings.is_sqlite:
        pytest.skip("a connection the server can end is PostgreSQL's")
    site = _site(settings, make_site(settings, "acme", "shop.example"))

    async def scenario() -> tuple[list[Any], list[str]]:
        async with running(settings.sync_url, capacity=1_000) as writer:
            visit = await writer.submit(
                tracking.prepare_start(site, VisitStart(siteKey="k"), CLIENT, "s", utcnow())
            )
            await writer.submit(_events(site, visit.visit_id, 2, "first"))
            assert writer._store is not None
            backend = writer._store.connection.info.backend_pid
            _execute(settings, "SELECT pg_terminate_backend(:pid)", pid=backend)
            answers = await asyncio.gather(
                *(writer.submit(_events(site, visit.visit_id, 3, tag)) for tag in ("x", "y"))
            )
            assert writer._store is not None
            assert writer._store.connection.info.backend_pid != backend
            prepared = [
                row[0]
                for row in writer._store.connection.execute(
                    "SELECT name FROM pg_prepared_statements ORDER BY name"
                )
            ]
            return answers, prepared

    answers, prepared = asyncio.run(scenario())
    assert [answer.extra["accepted"] for answer in answers] == [3, 3]
    assert "leadline_events_new" in prepared
    assert "leadline_update_visits" in prepared
    (row,) = fetch_rows(settings, "SELECT events, clicks FROM visits")
    assert (row["events"], row["clicks"]) == (8, 8)
    (count,) = fetch_rows(settings, "SELECT count(*) AS n FROM events")
    assert count["n"] == 8


def test_a_visit_changed_by_another_process_is_read_again(settings: Settings) -> None:
    """Two writers (two server processes) take turns with one visit: each change lands, and
    the writer whose memory of the visit went out of date reads it again."""
    site = _site(settings, make_site(settings, "acme", "shop.example"))

    async def scenario() -> tuple[TrackingWriter, TrackingWriter, Any]:
        async with (
            running(settings.sync_url, capacity=1_000) as first,
            running(settings.sync_url, capacity=1_000) as second,
        ):
            visit = await first.submit(
                tracking.prepare_start(site, VisitStart(siteKey="k"), CLIENT, "s", utcnow())
            )
            await first.submit(_events(site, visit.visit_id, 2, "a"))
            await second.submit(_events(site, visit.visit_id, 3, "b"))
            await first.submit(_events(site, visit.visit_id, 4, "c"))
            await second.submit(_events(site, visit.visit_id, 5, "d"))
            return first, second, visit

    first, second, visit = asyncio.run(scenario())
    assert (first.stale_groups, second.stale_groups) == (1, 1)
    (row,) = fetch_rows(
        settings, "SELECT events, clicks FROM visits WHERE id = :id", id=visit.visit_id
    )
    assert (row["events"], row["clicks"]) == (14, 14)
    (stored,) = fetch_rows(settings, "SELECT count(*) AS n FROM events")
    assert stored["n"] == 14
    counts = daily(settings)
    assert counts[("total", "")][3] == 14


def test_events_of_a_remembered_visit_deleted_meanwhile_are_refused(settings: Settings) -> None:
    site = _site(settings, make_site(settings, "acme", "shop.example"))

    async def scenario() -> Any:
        async with running(settings.sync_url, capacity=1_000) as writer:
            visit = await writer.submit(
                tracking.prepare_start(site, VisitStart(siteKey="k"), CLIENT, "s", utcnow())
            )
            await writer.submit(_events(site, visit.visit_id, 1, "a"))
            _execute(settings, "DELETE FROM events")
            _execute(settings, "DELETE FROM visits")
            with pytest.raises(NotFound) as refused:
                await writer.submit(_events(site, visit.visit_id, 2, "b"))
            return refused.value

    refused = asyncio.run(scenario())
    assert refused.status_code == 404
    (stored,) = fetch_rows(settings, "SELECT count(*) AS n FROM events")
    assert stored["n"] == 0


def test_a_large_group_with_events_sent_before_counts_each_event_once(
    settings: Settings,
) -> None:
    """Seven batches of 100 in one transaction (on PostgreSQL that many events travel in a
    statement of their own), two of them the same: each event is stored and counted once."""
    site = _site(settings, make_site(settings, "acme", "shop.example"))

    async def scenario() -> list[Any]:
        async with running(settings.sync_url, capacity=10_000) as writer:
            visit = await writer.submit(
                tracking.prepare_start(site, VisitStart(siteKey="k"), CLIENT, "s", utcnow())
            )
            with writes_blocked(settings):
                # The warm-up event is taken and waits for the lock; the seven queue behind it,
                # so the writer takes them as one group once it is through.
                warm = asyncio.create_task(writer.submit(_events(site, visit.visit_id, 1, "warm")))
                await taken(writer, of=1)
                tasks = [
                    asyncio.create_task(writer.submit(_events(site, visit.visit_id, 100, tag)))
                    for tag in ("a", "b", "c", "a", "d", "e", "f")
                ]
                await asyncio.sleep(0)  # each task queues its batch before this returns
                assert writer.waiting == 700
            await warm  # remembered now
            return await asyncio.gather(*tasks)

    answers = asyncio.run(scenario())
    assert [answer.extra["accepted"] for answer in answers] == [100, 100, 100, 0, 100, 100, 100]
    (row,) = fetch_rows(settings, "SELECT events, clicks FROM visits")
    assert (row["events"], row["clicks"]) == (601, 601)
    (stored,) = fetch_rows(settings, "SELECT count(*) AS n FROM events")
    assert stored["n"] == 601
    assert daily(settings)[("event", "click")][3] == 601


def test_the_visit_cache_keeps_the_most_recently_used() -> None:
    cache = groups.VisitCache(size=2)
    now = utcnow()

    def visit(visit_id: str) -> VisitState:
        return VisitState(
            visit_id, "w", "s", "v", now, now, None, 0, 0, 0, 0, 0, 0, None, columns={"x": 1}
        )

    cache.keep([visit("a"), visit("b")])
    kept = cache.get("a")
    assert kept is not None
    assert kept.columns is None
    # The visit itself is handed out (a group changes it in place; the writer forgets the
    # visits of a group that fails, see the test of a commit that fails).
    assert cache.get("a") is kept
    cache.keep([visit("c")])  # "b" was used least recently
    assert cache.get("b") is None
    assert cache.get("a") is not None
    assert cache.get("c") is not None
    cache.forget(["a"])
    assert cache.get("a") is None
    assert len(cache) == 1


def test_without_a_database_requests_get_503(tmp_path: Any) -> None:
    async def scenario() -> Any:
        async with running(f"sqlite:///{tmp_path}/missing/dir/x.db", capacity=100) as writer:
            site = SiteInfo(
                site=type("S", (), {"id": "s", "workspace_id": "w"})(),  # type: ignore[arg-type]
                domains=["shop.example"],
            )
            with pytest.raises(ServiceUnavailable) as failed:
                await writer.submit(_events(site, "visit", 1, "x"))
            return failed.value

    failed = asyncio.run(scenario())
    assert failed.retry_after == 5
    assert "could not be stored" in failed.message


# ---------------------------------------------------------------------------------- CLI


def test_sites_update_changes_the_privacy_settings(cli: CliRunner, settings: Settings) -> None:
    key = make_site(settings, "acme", "shop.example")
    changed = cli.invoke(app, ["sites", "update", key, "--respect-gpc", "--fingerprinting"])
    assert changed.exit_code == 0, changed.output
    assert "respect-dnt=off  respect-gpc=on  fingerprinting=on" in changed.output
    listed = cli.invoke(app, ["sites", "list", "--workspace", "acme"])
    assert "respect-gpc=on" in listed.output
    (row,) = fetch_rows(settings, "SELECT respect_dnt, respect_gpc, fingerprinting FROM sites")
    assert row == {"respect_dnt": False, "respect_gpc": True, "fingerprinting": True}
    actions = fetch_rows(settings, "SELECT action FROM audit_events ORDER BY seq")
    assert [a["action"] for a in actions][-2:] == ["site.created", "site.updated"]

    assert cli.invoke(app, ["sites", "update", key]).exit_code == 1
    unknown = cli.invoke(app, ["sites", "update", "LL-NOPE", "--respect-dnt"])
    assert unknown.exit_code == 1
    assert "no site has the key" in unknown.output


# ------------------------------------------------------------------ SQLite checkpoints


def _sqlite_only(settings: Settings) -> str:
    if not settings.sync_url.startswith("sqlite"):
        pytest.skip("the write-ahead log is SQLite's")
    return make_url(settings.sync_url).database or ""


def test_the_checkpoint_thread_copies_the_log_back(
    client: TestClient, settings: Settings, tmp_path: Path
) -> None:
    """The writer's commits leave the write-ahead log alone; the thread beside it copies it
    back into the database file, where a copy of that file alone finds the events."""
    path = _sqlite_only(settings)
    site = make_site(settings, "acme", "shop.example")
    visit = start(client, site)["session_id"]
    send(client, site, visit, [{"id": f"c{i}", "type": "click"} for i in range(100)])

    def copied() -> bool:
        shutil.copyfile(path, tmp_path / "file-only.db")
        with contextlib.closing(sqlite3.connect(tmp_path / "file-only.db")) as copy:
            (found,) = copy.execute("SELECT count(*) FROM events").fetchone()
        return bool(found == 100)

    # A checkpoint runs every tenth of a second.
    wait_until(copied, "the events reach the database file", every=0.05)


def test_when_the_checkpoint_thread_fails_the_writer_checkpoints_itself(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    _sqlite_only(settings)
    from leadline.tracking import writer as writer_module

    def broken(self: Any, stop: Any) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(writer_module.SqliteCheckpointer, "run", broken)
    site = _site(settings, make_site(settings, "acme", "shop.example"))

    async def scenario() -> tuple[bool, int]:
        async with running(settings.sync_url, capacity=1_000) as writer:
            assert writer._checkpoints is not None
            writer._checkpoints.join(5)
            begun = tracking.prepare_start(
                site, VisitStart(siteKey="k"), CLIENT, "secret", utcnow()
            )
            await writer.submit(begun)
            store = writer._store
            assert store is not None
            (pages,) = store.connection.execute("PRAGMA wal_autocheckpoint").fetchone()
            return writer._checkpointer_failed, int(pages)

    # The thread is gone: the writer's own commits checkpoint again, as SQLite does by default.
    assert asyncio.run(scenario()) == (True, 1000)


def test_a_long_log_is_made_to_start_over(settings: Settings) -> None:
    """Under steady writes a passive checkpoint never reaches the end of the log, so the log
    never starts over by itself (bench/ingest.py saw it pass 400 MB in 20 s): past
    ``restart_frames`` pages a turn of the checkpoint thread also runs a restarting
    checkpoint, and below it does not."""
    path = _sqlite_only(settings)
    store = SqliteStore.open(settings.sync_url)
    rows = [(b"x" * 3000,)] * 20

    def write(commits: int) -> None:
        for _ in range(commits):
            store.begin()
            store.connection.executemany("INSERT INTO wal_test VALUES (?)", rows)
            store.commit()

    try:
        store.connection.execute("CREATE TABLE wal_test (x BLOB)")
        with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as own:
            write(30)  # about 500 pages
            assert not SqliteCheckpointer(settings.sync_url, restart_frames=10_000).checkpoint(own)
            write(30)
            assert SqliteCheckpointer(settings.sync_url, restart_frames=400).checkpoint(own)
    finally:
        store.connection.execute("DROP TABLE IF EXISTS wal_test")
        store.close()


def test_the_log_starts_over_while_the_writer_keeps_writing(settings: Settings) -> None:
    """Restarts run between the writer's transactions (the gate), under steady writes: every
    batch is answered and stored, and the log is made to start over again and again."""
    _sqlite_only(settings)
    site = _site(settings, make_site(settings, "acme", "shop.example"))

    async def scenario() -> tuple[int, int]:
        writer = TrackingWriter(settings.sync_url, capacity=100_000, restart_frames=64)
        writer.start()
        try:
            visit = await writer.submit(
                tracking.prepare_start(site, VisitStart(siteKey="k"), CLIENT, "s", utcnow())
            )
            answered = 0
            deadline = time.monotonic() + 1.5
            round_ = 0
            while time.monotonic() < deadline:
                works = [_events(site, visit.visit_id, 100, f"r{round_}-{i}") for i in range(8)]
                round_ += 1
                answers = await asyncio.gather(*(writer.submit(work) for work in works))
                answered += sum(answer.extra["accepted"] for answer in answers)
            assert writer.checkpointer is not None
            return answered, writer.checkpointer.restarts
        finally:
            await writer.stop()

    answered, restarts = asyncio.run(scenario())
    assert restarts >= 2
    (stored,) = fetch_rows(settings, "SELECT count(*) AS n FROM events")
    assert stored["n"] == answered


AWKWARD_TEXTS = [
    "it's",
    "'); DROP TABLE events; --",
    "a\\'b\\\\",
    "E'\\x41' $$quoted$$ ? %s",
    "Grüße, 東京, 😀",
]


def test_texts_with_quotes_and_backslashes_are_stored_as_they_came(settings: Settings) -> None:
    """The PostgreSQL writer writes its values into the query text as literals: quotes,
    backslashes, placeholders and other scripts come back out exactly (on SQLite too)."""
    site = _site(settings, make_site(settings, "acme", "shop.example"))

    async def scenario() -> str:
        async with running(settings.sync_url, capacity=1_000) as writer:
            visit = await writer.submit(
                tracking.prepare_start(site, VisitStart(siteKey="k"), CLIENT, "s", utcnow())
            )
            events = [
                EventIn(
                    type=text[:64],
                    id=f"t{index}",
                    url=text,
                    data=msgspec.Raw(msgspec.json.encode({"text": text})),
                )
                for index, text in enumerate(AWKWARD_TEXTS)
            ]
            work = tracking.prepare_events(site, visit.visit_id, events, CLIENT, utcnow())
            answer = await writer.submit(work)
            assert answer.extra == {"accepted": len(AWKWARD_TEXTS)}
            return visit.visit_id

    visit_id = asyncio.run(scenario())
    rows = fetch_rows(
        settings,
        "SELECT client_id, type, url, data FROM events WHERE visit_id = :id ORDER BY client_id",
        id=visit_id,
    )
    assert [(row["type"], row["url"]) for row in rows] == [
        (text[:64], text) for text in AWKWARD_TEXTS
    ]
    assert [json.loads(row["data"])["text"] for row in rows] == AWKWARD_TEXTS


def test_a_literal_never_holds_a_nul_character() -> None:
    assert _literal("it's") == "'it''s'"
    assert _literal(-12) == "-12"
    with pytest.raises(ValueError, match="NUL"):
        _literal("a\x00b")


def test_no_connection_of_leadlines_checkpoints_on_its_commits(settings: Settings) -> None:
    """A commit's own checkpoint is passive, which SQLite before 3.51.3 can get wrong beside
    another writer: the app's pooled connections and any SQLAlchemy engine's (the CLI's, the
    migrations') leave checkpoints to a checkpoint thread."""
    _sqlite_only(settings)

    async def pooled() -> int:
        database = Database(settings)
        try:
            async with database.engine.connect() as connection:
                return int(await connection.scalar(text("PRAGMA wal_autocheckpoint")) or 0)
        finally:
            await database.dispose()

    engine = create_engine(settings.sync_url)
    try:
        with engine.connect() as connection:
            plain = int(connection.scalar(text("PRAGMA wal_autocheckpoint")) or 0)
    finally:
        engine.dispose()
    assert (asyncio.run(pooled()), plain) == (0, 0)


def test_the_workers_checkpoint_thread_copies_the_log_back(
    settings: Settings, tmp_path: Path
) -> None:
    """``leadline worker`` writes without the tracking writer: its own thread copies the log
    back (full checkpoints, holding the write lock)."""
    path = _sqlite_only(settings)
    store = SqliteStore.open(settings.sync_url)
    try:
        store.connection.execute("CREATE TABLE wal_test (x BLOB)")
        with checkpoints(settings.sync_url, interval=0.05):
            store.begin()
            store.connection.executemany("INSERT INTO wal_test VALUES (?)", [(b"x",)] * 50)
            store.commit()

            def copied() -> bool:
                shutil.copyfile(path, tmp_path / "file-only.db")
                with contextlib.closing(sqlite3.connect(tmp_path / "file-only.db")) as copy:
                    found = copy.execute(
                        "SELECT count(*) FROM sqlite_master WHERE name = 'wal_test'"
                    ).fetchone()
                    if not found[0]:
                        return False
                    (rows,) = copy.execute("SELECT count(*) FROM wal_test").fetchone()
                return bool(rows == 50)

            wait_until(copied, "the rows reach the database file", every=0.05)
    finally:
        store.connection.execute("DROP TABLE IF EXISTS wal_test")
        store.close()
