"""When a site last sent tracking data (the dashboard's "tracking seen"): none at first, the
newest arrival after a visit and its events, only for the workspace's own sites, and read off
the sites' indexes, not by scanning their rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.testclient import TestClient

from leadline.config import Settings
from leadline.errors import NotFound
from leadline.tracking import service as tracking
from leadline.tracking.repository import newest_arrival_queries
from leadline.workspaces import service as workspaces
from tests.fixtures.factories import execute_sql, fetch_rows, make_site, run_in_transaction

ORIGIN = {"Origin": "https://shop.example", "User-Agent": "Mozilla/5.0 (X11; Linux) Firefox/140"}


def _site_id(settings: Settings, key: str) -> str:
    [row] = fetch_rows(settings, "SELECT id FROM sites WHERE site_key = :key", key=key)
    return str(row["id"])


def _last(settings: Settings, workspace: str, site_id: str) -> datetime | None:
    async def work(session: AsyncSession) -> datetime | None:
        ws = await workspaces.require(session, workspace)
        return await tracking.last_tracked(session, ws.id, site_id)

    return run_in_transaction(settings, work)


def test_a_site_is_seen_when_its_visits_and_events_arrive(
    client: TestClient, settings: Settings
) -> None:
    key = make_site(settings, "acme", "shop.example")
    site_id = _site_id(settings, key)
    assert _last(settings, "acme", site_id) is None
    before = datetime.now(UTC) - timedelta(seconds=1)
    started = client.post(
        "/track/session/start",
        json={"siteKey": key, "url": "https://shop.example/"},
        headers=ORIGIN,
    )
    assert started.status_code == 200
    event = client.post(
        "/track/event",
        json={"siteKey": key, "sessionId": started.json()["session_id"], "type": "page_view"},
        headers=ORIGIN,
    )
    assert event.status_code == 200, event.text
    assert len(fetch_rows(settings, "SELECT id FROM events")) == 1
    seen = _last(settings, "acme", site_id)
    assert seen is not None
    assert before <= seen <= datetime.now(UTC) + timedelta(seconds=1)

    # An event that arrived later than the visit began counts: the later of the two.
    later = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    execute_sql(settings, "UPDATE events SET received_at = :at", at=later.replace(tzinfo=None))
    assert _last(settings, "acme", site_id) == later
    # With the events gone past their retention, the newest visit still says so.
    execute_sql(settings, "DELETE FROM events")
    visit_only = _last(settings, "acme", site_id)
    assert visit_only is not None
    assert before <= visit_only <= seen


def test_another_workspaces_site_is_not_found_nor_seen(
    client: TestClient, settings: Settings
) -> None:
    their_key = make_site(settings, "other", "shop.example")
    theirs = _site_id(settings, their_key)
    mine = _site_id(settings, make_site(settings, "acme", "shop.example"))
    started = client.post(
        "/track/session/start",
        json={"siteKey": their_key, "url": "https://shop.example/"},
        headers=ORIGIN,
    )
    assert started.status_code == 200
    with pytest.raises(NotFound):
        _last(settings, "acme", theirs)

    async def listed(session: AsyncSession) -> dict[str, datetime | None]:
        ws = await workspaces.require(session, "acme")
        return await tracking.last_tracked_by_site(session, ws.id, [mine, theirs])

    assert run_in_transaction(settings, listed) == {mine: None, theirs: None}


def test_the_newest_arrival_is_read_off_the_sites_indexes(settings: Settings) -> None:
    make_site(settings, "acme", "shop.example")
    engine = create_engine(settings.sync_url)
    queries = newest_arrival_queries("ws_1", "site_1")
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                for query, index in zip(
                    queries, ("ix_events_site_received", "ix_visits_site_started"), strict=True
                ):
                    sql = query.compile(
                        dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}
                    )
                    plan = " ".join(
                        str(row[-1]) for row in conn.execute(text(f"EXPLAIN QUERY PLAN {sql}"))
                    )
                    assert f"USING INDEX {index}" in plan, plan
                    assert "TEMP B-TREE" not in plan, plan
            else:
                # An empty table is scanned whatever its indexes: ask what it would do without.
                conn.execute(text("SET enable_seqscan = off"))
                for query, index in zip(
                    queries, ("ix_events_site_received", "ix_visits_site_started"), strict=True
                ):
                    sql = query.compile(
                        dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}
                    )
                    plan = "\n".join(str(row[0]) for row in conn.execute(text(f"EXPLAIN {sql}")))
                    assert f"Index Scan Backward using {index}" in plan, plan
                    assert "Sort" not in plan, plan
    finally:
        engine.dispose()
