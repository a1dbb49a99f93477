"""Exports of events, visits and leads: the rows of the period, site and workspace asked for,
as CSV and ndjson, on the command line and over HTTP (admins only), and a million rows in
flat memory."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import create_engine
from starlette.testclient import TestClient
from typer.testing import CliRunner

from leadline.analytics import export as exports
from leadline.cli import app as cli_app
from leadline.config import Settings
from leadline.db import Database
from leadline.kit.periods import parse_period
from leadline.models import Lead, LeadSubmission, TrackedEvent, Visit
from leadline.models.base import Base
from tests.fixtures.factories import fetch_rows, make_key, make_site

MARCH = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def insert(settings: Settings, model: type[Base], rows: list[dict[str, Any]]) -> None:
    engine = create_engine(settings.sync_url)
    try:
        with engine.begin() as conn:
            conn.execute(model.__table__.insert(), rows)  # type: ignore[attr-defined]
    finally:
        engine.dispose()


def site_id(settings: Settings, key: str) -> str:
    return str(fetch_rows(settings, "SELECT id FROM sites WHERE site_key = :k", k=key)[0]["id"])


def workspace_id(settings: Settings, slug: str) -> str:
    return str(fetch_rows(settings, "SELECT id FROM workspaces WHERE slug = :s", s=slug)[0]["id"])


class World:
    """Two sites of acme (a, b) and one of another workspace, with events, visits and leads
    in March 2026, and some before it."""

    def __init__(self, settings: Settings) -> None:
        self.key_a = make_site(settings, "acme", "a.example")
        self.key_b = make_site(settings, "acme", "b.example")
        self.key_other = make_site(settings, "other", "other.example")
        self.a, self.b = site_id(settings, self.key_a), site_id(settings, self.key_b)
        other = site_id(settings, self.key_other)
        self.ws, ws_other = workspace_id(settings, "acme"), workspace_id(settings, "other")
        visits = [
            ("va1", self.ws, self.a, MARCH),
            ("va2", self.ws, self.a, MARCH),  # the same moment: the id breaks the tie
            ("va0", self.ws, self.a, MARCH - timedelta(days=30)),  # February
            ("vb1", self.ws, self.b, MARCH + timedelta(hours=1)),
            ("vo1", ws_other, other, MARCH),
        ]
        insert(
            settings,
            Visit,
            [
                {
                    "id": v,
                    "workspace_id": w,
                    "site_id": s,
                    "started_at": t,
                    "last_seen_at": t,
                    "utm_source": "google",
                    "page_views": 2,
                }
                for v, w, s, t in visits
            ],
        )
        events = []
        for visit, ws, site, moment in visits:
            for n in range(3):
                events.append(
                    {
                        "workspace_id": ws,
                        "site_id": site,
                        "visit_id": visit,
                        "client_id": f"c{n}",
                        "type": "page_view",
                        "occurred_at": moment,
                        "received_at": moment + timedelta(seconds=n // 2),
                        "url": "https://x/p",
                        "data": f'{{"n": {n}}}',
                    }
                )
        insert(settings, TrackedEvent, events)
        leads = [
            ("ld_visit_a", self.ws, "va1", MARCH, "ada@example.com"),
            ("ld_form_b", self.ws, None, MARCH + timedelta(days=1), "bo@example.com"),
            ("ld_none", self.ws, None, MARCH + timedelta(days=2), "cy@example.com"),
            ("ld_feb", self.ws, "va0", MARCH - timedelta(days=30), "old@example.com"),
            ("ld_other", ws_other, "vo1", MARCH, "other@example.com"),
        ]
        insert(
            settings,
            Lead,
            [
                {
                    "id": i,
                    "workspace_id": w,
                    "visit_id": v,
                    "created_at": t,
                    "updated_at": t,
                    "email": e,
                    "phone": "+31612345678",
                    "source": "api",
                    "status": "open",
                    "name": 'Ada, "the" first',
                }
                for i, w, v, t, e in leads
            ],
        )
        insert(
            settings,
            LeadSubmission,
            [
                {
                    "id": "sub_1",
                    "workspace_id": self.ws,
                    "lead_id": "ld_form_b",
                    "site_id": self.b,
                    "outcome": "created",
                    "created_at": MARCH + timedelta(days=1),
                }
            ],
        )


@pytest.fixture
def world(settings: Settings) -> World:
    return World(settings)


def run_cli(cli: CliRunner, *args: str) -> str:
    result = cli.invoke(
        cli_app,
        ["export", *args, "--workspace", "acme", "--from", "2026-03-01", "--to", "2026-03-31"],
    )
    assert result.exit_code == 0, result.output
    return result.stdout


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_events_csv_and_ndjson(cli: CliRunner, world: World) -> None:
    rows = csv_rows(run_cli(cli, "events", "--format", "csv"))
    assert list(rows[0]) == list(exports.FIELDS["events"])
    by_site: dict[str, list[str]] = {}
    for row in rows:
        by_site.setdefault(row["site_id"], []).append(row["visit_id"])
    # February and the other workspace are left out.
    assert {site: len(visits) for site, visits in by_site.items()} == {world.a: 6, world.b: 3}
    assert rows[0]["received_at"] == "2026-03-10T12:00:00.000Z"
    assert rows[0]["data"] in ('{"n": 0}', '{"n": 1}')

    lines = run_cli(cli, "events", "--format", "ndjson", "--site", world.key_b).splitlines()
    items = [json.loads(line) for line in lines]
    assert [item["visit_id"] for item in items] == ["vb1"] * 3
    assert {item["data"]["n"] for item in items} == {0, 1, 2}


def test_visits_and_leads(cli: CliRunner, world: World, tmp_path: Any) -> None:
    visits = csv_rows(run_cli(cli, "visits", "--format", "csv", "--site", world.a))
    assert [row["id"] for row in visits] == ["va1", "va2"]
    assert visits[0]["utm_source"] == "google"
    assert visits[0]["ended_at"] == ""

    out = tmp_path / "leads.csv"
    run_cli(cli, "leads", "--format", "csv", "--output", str(out))
    leads = csv_rows(out.read_text())
    assert [row["id"] for row in leads] == ["ld_visit_a", "ld_form_b", "ld_none"]
    assert leads[0]["email"] == "ada@example.com"
    assert leads[0]["name"] == 'Ada, "the" first'

    of_a = [
        json.loads(x)
        for x in run_cli(cli, "leads", "--format", "ndjson", "--site", world.key_a).splitlines()
    ]
    assert [item["id"] for item in of_a] == ["ld_visit_a"]
    assert of_a[0]["phone"] == "+31612345678"
    of_b = [
        json.loads(x)
        for x in run_cli(cli, "leads", "--format", "ndjson", "--site", world.b).splitlines()
    ]
    assert [item["id"] for item in of_b] == ["ld_form_b"]


def test_cli_refuses_bad_input(cli: CliRunner, world: World) -> None:
    for args, message in (
        (["nothing"], "kind must be one of events, visits, leads"),
        (["events", "--format", "xml"], "format must be one of csv, ndjson"),
        (["events", "--site", world.key_other], "no site"),
    ):
        result = cli.invoke(cli_app, ["export", *args, "--workspace", "acme"])
        assert result.exit_code != 0
        assert message in result.output


def test_pages_follow_the_keyset(settings: Settings, world: World) -> None:
    """Pages of two rows, where rows share their time: each row once, in order."""
    spec = exports.ExportSpec(
        workspace_id=world.ws,
        kind="events",
        site_ids=(world.a, world.b),
        period=parse_period("2026-03-01", "2026-03-31", None),
    )

    async def read() -> list[tuple[str, datetime, int]]:
        db = Database(settings)
        try:
            got = []
            async for rows in exports.batches(db, spec, size=2):
                assert len(rows) <= 2
                got.extend((row.site_id, row.received_at, row.id) for row in rows)
            return got
        finally:
            await db.dispose()

    got = asyncio.run(read())
    assert len(got) == len(set(got)) == 9
    # Site by site, each in order of (received_at, id).
    assert [site for site, _, _ in got] == [world.a] * 6 + [world.b] * 3
    assert got[:6] == sorted(got[:6])
    assert got[6:] == sorted(got[6:])


def test_the_route_streams_for_admins_only(
    client: TestClient, settings: Settings, world: World
) -> None:
    admin = {"X-API-Key": make_key(settings, "acme", "admin")}
    params = {"kind": "leads", "format": "csv", "from": "2026-03-01", "to": "2026-03-31"}
    http = client
    answer = http.get("/analytics/export", params=params, headers=admin)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    assert answer.headers["content-disposition"] == (
        'attachment; filename="leads-2026-03-01-2026-03-31.csv"'
    )
    assert [row["id"] for row in csv_rows(answer.text)] == ["ld_visit_a", "ld_form_b", "ld_none"]

    events = http.get(
        "/analytics/export",
        params={**params, "kind": "events", "format": "ndjson", "site": world.key_a},
        headers=admin,
    )
    assert events.headers["content-type"].startswith("application/x-ndjson")
    assert len(events.text.splitlines()) == 6

    head = http.head("/analytics/export", params=params, headers=admin)
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-disposition"].startswith("attachment")

    marketing = {"X-API-Key": make_key(settings, "acme", "marketing")}
    assert http.get("/analytics/export", params=params, headers=marketing).status_code == 403
    assert http.get("/analytics/export", params=params).status_code == 401
    for bad, name in (({"kind": "sessions"}, "kind"), ({"format": "xml"}, "format")):
        refused = http.get("/analytics/export", params={**params, **bad}, headers=admin)
        assert refused.status_code == 400
        assert name in refused.json()["error"]
    other = http.get("/analytics/export", params={**params, "site": world.key_other}, headers=admin)
    assert other.status_code == 404


ONE_MILLION = 1_000_000
# How much the process may grow while it exports, whatever the number of rows: the rows
# themselves, held at once, would take several hundred megabytes.
MEMORY_BOUND = 50 * 1024 * 1024


def resident_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def insert_events(path: str, workspace: str, site: str, count: int) -> None:
    """``count`` events of one visit, a second apart from 2026-03-01, written by SQLite
    itself (in the format the app stores times in)."""
    conn = sqlite3.connect(path)
    with conn:
        conn.execute(
            "WITH RECURSIVE n(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM n WHERE x < ?)"
            " INSERT INTO events (workspace_id, site_id, visit_id, client_id, type,"
            " occurred_at, received_at, url, data)"
            " SELECT ?, ?, 'v', x, 'page_view', t, t, NULL, '{}' FROM"
            " (SELECT x, datetime('2026-03-01', '+' || x || ' seconds') || '.000000' AS t"
            " FROM n)",
            (count - 1, workspace, site),
        )
    conn.close()


@pytest.mark.slow
def test_a_million_events_export_in_flat_memory(settings: Settings) -> None:
    if not settings.is_sqlite:
        pytest.skip("the rows are written in bulk by SQLite itself; the paging is the same SQL")
    key = make_site(settings, "acme", "big.example")
    site, ws = site_id(settings, key), workspace_id(settings, "acme")
    insert_events(settings.sync_url.removeprefix("sqlite:///"), ws, site, ONE_MILLION)
    spec = exports.ExportSpec(
        workspace_id=ws,
        kind="events",
        site_ids=(site,),
        period=parse_period("2026-03-01", "2026-03-31", None),
    )

    async def export() -> tuple[int, int, int]:
        db = Database(settings)
        rows = size = growth = 0
        try:
            assert await exports.count_rows(db, spec) == ONE_MILLION
            before = resident_bytes()
            async for chunk in exports.stream(db, spec, "csv"):
                rows += chunk.count(b"\n")
                size += len(chunk)
                growth = max(growth, resident_bytes() - before)
            return rows, size, growth
        finally:
            await db.dispose()

    rows, size, growth = asyncio.run(export())
    assert rows == ONE_MILLION + 1  # and the header
    # What streamed was far larger than what the process grew by.
    assert size > 60 * ONE_MILLION
    assert growth < MEMORY_BOUND, f"grew by {growth / 1e6:.1f} MB"
