"""With ClickHouse keeping the events, the features that read or delete raw events reach it:
a lead's timeline, the events export (route and command), a privacy erasure (API, command
and the large erasure's job) and the rollups' rebuild. Everything is fed through the
tracking and capture routes, as a browser would, and checked in ClickHouse itself."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner

from leadline.analytics import export as exports
from leadline.app import create_app
from leadline.cli import app as cli_app
from leadline.clickhouse.client import ClickHouse
from leadline.clickhouse.schema import EVENTS, VISITS
from leadline.config import Settings
from leadline.db import Database
from leadline.kit.periods import parse_period
from leadline.privacy import service as privacy
from leadline.privacy.registry import clickhouse_tables
from leadline.privacy.tasks import carry_on
from tests.fixtures.factories import execute_sql, fetch_rows, make_key
from tests.fixtures.lead_reports import PAGE, capture_site, submit
from tests.fixtures.server import free_port

ADA_EMAIL = "ada@example.com"
# The landing page's address carries the email (a form that sent itself by GET).
ADA_URL = f"https://shop.example/thanks?email={ADA_EMAIL}"


@pytest.fixture
def ch_settings(settings: Settings, clickhouse_url: str) -> Settings:
    return settings.model_copy(update={"clickhouse_url": clickhouse_url})


@pytest.fixture
def app_client(ch_settings: Settings, clickhouse: ClickHouse) -> Iterator[TestClient]:
    with TestClient(create_app(ch_settings)) as client:
        yield client


@pytest.fixture
def ch_cli(
    settings: Settings, clickhouse_url: str, monkeypatch: pytest.MonkeyPatch, cli: CliRunner
) -> CliRunner:
    monkeypatch.setenv("LEADLINE_CLICKHOUSE_URL", clickhouse_url)
    return cli


@pytest.fixture
def site(settings: Settings) -> str:
    return capture_site(settings)


def _admin(settings: Settings, workspace: str = "acme") -> dict[str, str]:
    return {"Authorization": f"Bearer {make_key(settings, workspace, 'admin')}"}


def _visit(client: TestClient, site: str, url: str, events: list[dict[str, Any]]) -> dict[str, Any]:
    """A visit started and its events sent through the tracking routes."""
    started = client.post(
        "/track/session/start",
        json={"siteKey": site, "url": url, "consent": {"mode": "granted"}},
        headers=PAGE,
    )
    assert started.status_code == 200, started.text
    visit: dict[str, Any] = started.json()
    sent = client.post(
        "/track/events/batch",
        json={"siteKey": site, "sessionId": visit["session_id"], "events": events},
        headers=PAGE,
    )
    assert sent.status_code == 200, sent.text
    return visit


def _ada_events() -> list[dict[str, Any]]:
    return [
        {"id": "p1", "type": "page_view", "url": ADA_URL},
        {"id": "c1", "type": "click", "data": {"text": f"Mail {ADA_EMAIL}"}},
        {"id": "c2", "type": "click"},
        {"id": "s1", "type": "scroll", "data": {"depth": 50}},
    ]


def _sql_events(settings: Settings) -> int:
    (row,) = fetch_rows(settings, "SELECT count(*) AS n FROM events")
    return int(row["n"])


def _lead_of(
    client: TestClient, settings: Settings, monkeypatch: pytest.MonkeyPatch, site: str, seen: Any
) -> str:
    submit(
        client,
        monkeypatch,
        site,
        datetime.now(UTC),
        seen=seen,
        FIRSTNAME="Ada",
        EMAIL=ADA_EMAIL,
    )
    answer = client.get("/analytics/leads", headers=_admin(settings))
    assert answer.status_code == 200, answer.text
    (listed,) = answer.json()["leads"]
    return str(listed["id"])


# ------------------------------------------------------------------------------ timeline


def test_a_leads_timeline_shows_its_visits_events_from_clickhouse(
    app_client: TestClient,
    settings: Settings,
    site: str,
    clickhouse: ClickHouse,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen = _visit(app_client, site, "https://shop.example/", _ada_events())
    # Another visit's events are not the lead's.
    _visit(app_client, site, "https://shop.example/", [{"id": "x1", "type": "click"}])
    lead_id = _lead_of(app_client, settings, monkeypatch, site, seen)
    assert _sql_events(settings) == 0

    answer = app_client.get(f"/analytics/leads/{lead_id}", headers=_admin(settings))
    assert answer.status_code == 200, answer.text
    events = [entry for entry in answer.json()["timeline"] if entry["type"] == "event"]
    assert sorted(entry["event"] for entry in events) == ["click", "click", "page_view", "scroll"]
    assert {entry["visit_id"] for entry in events} == {seen["session_id"]}
    (page_view,) = [entry for entry in events if entry["event"] == "page_view"]
    assert page_view["url"] == ADA_URL
    (scroll,) = [entry for entry in events if entry["event"] == "scroll"]
    assert scroll["data"] == {"depth": 50}
    # Another workspace's key sees no such lead.
    other = app_client.get(f"/analytics/leads/{lead_id}", headers=_admin(settings, "globex"))
    assert other.status_code == 404


# -------------------------------------------------------------------------------- export


def _today() -> str:
    return datetime.now(UTC).date().isoformat()


def _days(first: str, last: str | None = None) -> list[str]:
    return ["--from", first, "--to", last or first]


def test_the_events_export_reads_clickhouse_by_route_and_command(
    app_client: TestClient,
    ch_cli: CliRunner,
    ch_settings: Settings,
    settings: Settings,
    site: str,
) -> None:
    first = _visit(app_client, site, "https://shop.example/", _ada_events())
    second = _visit(app_client, site, "https://shop.example/", [{"id": "p1", "type": "page_view"}])
    assert _sql_events(settings) == 0

    answer = app_client.get(
        "/analytics/export",
        params={"kind": "events", "format": "csv", "from": _today(), "to": _today()},
        headers=_admin(settings),
    )
    assert answer.status_code == 200, answer.text
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert list(rows[0]) == list(exports.FIELDS["events"])
    assert sorted((row["visit_id"], row["id"]) for row in rows) == sorted(
        [(first["session_id"], ident) for ident in ("p1", "c1", "c2", "s1")]
        + [(second["session_id"], "p1")]
    )
    (page_view,) = [r for r in rows if r["visit_id"] == first["session_id"] and r["id"] == "p1"]
    assert page_view["url"] == ADA_URL
    assert page_view["received_at"].endswith("Z")

    result = ch_cli.invoke(
        cli_app,
        ["export", "events", "--workspace", "acme", "--format", "ndjson", *_days(_today())],
    )
    assert result.exit_code == 0, result.output
    items = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(items) == 5
    (scroll,) = [item for item in items if item["type"] == "scroll"]
    assert scroll["data"] == {"depth": 50}
    assert scroll["visit_id"] == first["session_id"]

    # Pages of two go on after the time, visit and id of the last event: the events of one
    # request share their time, and two visits share an event id.
    async def paged() -> list[tuple[str, str]]:
        db = Database(ch_settings)
        client = await app_client.app.clickhouse.client()  # type: ignore[attr-defined]
        (workspace,) = fetch_rows(settings, "SELECT id FROM workspaces WHERE slug = 'acme'")
        spec = exports.ExportSpec(
            workspace_id=str(workspace["id"]),
            kind="events",
            site_ids=(rows[0]["site_id"],),
            period=parse_period(_today(), _today(), None),
        )
        try:
            assert await exports.count_rows(db, spec, client) == 5
            return [
                (row.visit_id, row.id)
                async for batch in exports.batches(db, spec, 2, client)
                for row in batch
            ]
        finally:
            await db.dispose()

    read = asyncio.run(paged())
    assert sorted(read) == sorted((r["visit_id"], r["id"]) for r in rows)
    assert len(set(read)) == 5


# ------------------------------------------------------------------------------ erasure


def _visit_start(clickhouse: ClickHouse, visit_id: str) -> tuple[str, str]:
    ((visitor, landing),) = clickhouse.query(
        "SELECT visitor_id, landing FROM visits WHERE id = {id:String}", {"id": visit_id}
    )
    return str(visitor), str(landing)


def _events_of(clickhouse: ClickHouse, visit_id: str) -> list[tuple[str, str | None, str, str]]:
    return [
        (str(ident), url, str(path), str(data))
        for ident, url, path, data in clickhouse.query(
            "SELECT client_id, url, path, data FROM events WHERE visit_id = {id:String}"
            " ORDER BY client_id",
            {"id": visit_id},
        )
    ]


def _no_trace(clickhouse: ClickHouse, visitor_id: str) -> None:
    """Nothing in ClickHouse holds Ada's browser or email any more."""
    for table, columns in (("events", EVENTS), ("visits", VISITS)):
        for row in clickhouse.query(f"SELECT {', '.join(columns)} FROM {table}"):
            text = str(row).lower()
            assert ADA_EMAIL not in text, (table, row)
            assert visitor_id not in text, (table, row)


def _seed_people(
    app_client: TestClient, settings: Settings, site: str, monkeypatch: pytest.MonkeyPatch
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Ada's visit (she leaves a lead) and Grace's, who leaves none."""
    ada = _visit(app_client, site, ADA_URL, _ada_events())
    grace = _visit(
        app_client,
        site,
        "https://shop.example/pricing",
        [{"id": "c1", "type": "click", "data": {"text": "grace"}}],
    )
    _lead_of(app_client, settings, monkeypatch, site, ada)
    assert _visit_start(app_client.app.clickhouse.get(), ada["session_id"])[0]  # type: ignore[attr-defined]
    return ada, grace


def test_an_erasure_erases_the_persons_events_and_visit_starts_in_clickhouse(
    app_client: TestClient,
    settings: Settings,
    site: str,
    clickhouse: ClickHouse,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ada, grace = _seed_people(app_client, settings, site, monkeypatch)
    grace_before = _events_of(clickhouse, grace["session_id"])
    grace_start = _visit_start(clickhouse, grace["session_id"])
    assert grace_start[0] == grace["visitor_id"]

    answer = app_client.post(
        "/api/v1/privacy/erasures", json={"email": ADA_EMAIL}, headers=_admin(settings)
    )
    assert answer.status_code == 201, answer.text
    counts = answer.json()["data"]["counts"]
    assert counts["clickhouse.events"] == 4
    assert counts["clickhouse.visits"] == 1

    _no_trace(clickhouse, ada["visitor_id"])
    assert _visit_start(clickhouse, ada["session_id"]) == ("", "/thanks")
    erased = _events_of(clickhouse, ada["session_id"])
    assert [(ident, data) for ident, _url, _path, data in erased] == [
        ("c1", "{}"),
        ("c2", "{}"),
        ("p1", "{}"),
        ("s1", "{}"),
    ]
    (page_view,) = [row for row in erased if row[0] == "p1"]
    assert page_view[1] == "https://shop.example/thanks?email=[erased]"
    # Grace is untouched, and the receipt is the one the route keeps.
    assert _events_of(clickhouse, grace["session_id"]) == grace_before
    assert _visit_start(clickhouse, grace["session_id"]) == grace_start
    receipt_id = answer.json()["data"]["id"]
    kept = app_client.get(f"/api/v1/privacy/erasures/{receipt_id}", headers=_admin(settings))
    assert kept.json()["data"]["counts"] == counts


def test_an_erasure_stays_in_its_workspace_in_clickhouse(
    app_client: TestClient,
    settings: Settings,
    site: str,
    clickhouse: ClickHouse,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ada, _grace = _seed_people(app_client, settings, site, monkeypatch)
    # Another workspace erasing the same email finds nothing of Ada's.
    capture_site(settings, "globex")
    answer = app_client.post(
        "/api/v1/privacy/erasures", json={"email": ADA_EMAIL}, headers=_admin(settings, "globex")
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["data"]["counts"]["clickhouse.events"] == 0
    assert _visit_start(clickhouse, ada["session_id"])[0] == ada["visitor_id"]
    assert ("c1", None, "", json.dumps({"text": f"Mail {ADA_EMAIL}"}, separators=(",", ":"))) in [
        (i, u, p, json.dumps(json.loads(d), separators=(",", ":")))
        for i, u, p, d in _events_of(clickhouse, ada["session_id"])
    ]


def test_an_erasure_with_clickhouse_out_of_reach_answers_503_and_erases_nothing(
    app_client: TestClient,
    settings: Settings,
    site: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _seed_people(app_client, settings, site, monkeypatch)
    down = settings.model_copy(
        update={"clickhouse_url": f"http://127.0.0.1:{free_port()}/leadline"}
    )
    with TestClient(create_app(down)) as client:
        answer = client.post(
            "/api/v1/privacy/erasures", json={"email": ADA_EMAIL}, headers=_admin(settings)
        )
    assert answer.status_code == 503, answer.text
    assert fetch_rows(settings, "SELECT count(*) AS n FROM leads") == [{"n": 1}]
    assert fetch_rows(settings, "SELECT count(*) AS n FROM erasures") == [{"n": 0}]


def test_the_command_and_a_large_erasures_job_erase_in_clickhouse_too(
    app_client: TestClient,
    ch_cli: CliRunner,
    ch_settings: Settings,
    settings: Settings,
    site: str,
    clickhouse: ClickHouse,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ada, _grace = _seed_people(app_client, settings, site, monkeypatch)
    # Grace Hopper leaves a lead too, erased by a job (her history counts as large).
    hopper = _visit(
        app_client, site, "https://shop.example/?ref=grace@example.org", _ada_events()[2:]
    )
    submit(app_client, monkeypatch, site, datetime.now(UTC), seen=hopper, EMAIL="grace@example.org")

    result = ch_cli.invoke(
        cli_app, ["privacy", "erase", "--workspace", "acme", "--email", ADA_EMAIL]
    )
    assert result.exit_code == 0, result.output
    assert "clickhouse.events" in result.output
    _no_trace(clickhouse, ada["visitor_id"])

    monkeypatch.setattr(privacy, "LARGE_ERASURE", 1)
    answer = app_client.post(
        "/api/v1/privacy/erasures", json={"email": "grace@example.org"}, headers=_admin(settings)
    )
    assert answer.status_code == 202, answer.text
    assert _visit_start(clickhouse, hopper["session_id"])[0] == hopper["visitor_id"]

    async def run() -> bool:
        db = Database(ch_settings)
        try:
            return await carry_on(db, answer.json()["data"]["id"], batch=2)
        finally:
            await db.dispose()

    assert asyncio.run(run())
    assert _visit_start(clickhouse, hopper["session_id"]) == ("", "/")
    receipt = app_client.get(
        f"/api/v1/privacy/erasures/{answer.json()['data']['id']}", headers=_admin(settings)
    ).json()["data"]
    assert receipt["state"] == "done"
    assert receipt["counts"]["clickhouse.visits"] == 1
    assert receipt["counts"]["clickhouse.events"] == 2


def test_a_persons_export_holds_their_rows_in_clickhouse(
    app_client: TestClient,
    settings: Settings,
    site: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ada, grace = _seed_people(app_client, settings, site, monkeypatch)
    answer = app_client.post(
        "/api/v1/privacy/exports", json={"email": ADA_EMAIL}, headers=_admin(settings)
    )
    assert answer.status_code == 200, answer.text
    tables = answer.json()["tables"]
    events = tables["clickhouse.events"]
    assert sorted(row["client_id"] for row in events) == ["c1", "c2", "p1", "s1"]
    assert {row["visit_id"] for row in events} == {ada["session_id"]}
    (clicked,) = [row for row in events if row["client_id"] == "c1"]
    assert clicked["data"] == {"text": f"Mail {ADA_EMAIL}"}
    (start,) = tables["clickhouse.visits"]
    assert (start["id"], start["visitor_id"]) == (ada["session_id"], ada["visitor_id"])
    assert grace["session_id"] not in answer.text

    page = app_client.post(
        "/api/v1/privacy/exports",
        json={"email": ADA_EMAIL, "format": "html"},
        headers=_admin(settings),
    )
    assert page.status_code == 200, page.text
    assert "<h2>clickhouse.events</h2>" in page.text
    assert ada["visitor_id"] in page.text


def test_deleting_a_site_keeps_its_events_in_clickhouse_as_in_the_database(
    app_client: TestClient, settings: Settings, site: str, clickhouse: ClickHouse
) -> None:
    """A deleted site keeps its visits and events (docs/api/management.md): so do ClickHouse's
    rows of it."""
    seen = _visit(app_client, site, "https://shop.example/", _ada_events())
    (row,) = fetch_rows(settings, "SELECT id FROM sites")
    deleted = app_client.delete(f"/analytics/sites/{row['id']}", headers=_admin(settings))
    assert deleted.status_code == 200, deleted.text
    assert len(_events_of(clickhouse, seen["session_id"])) == 4
    assert _visit_start(clickhouse, seen["session_id"])[0] == seen["visitor_id"]


def test_the_clickhouse_declarations_name_clickhouses_columns() -> None:
    columns = {"events": set(EVENTS), "visits": set(VISITS)}
    declared = dict(clickhouse_tables())
    assert set(declared) == {"events", "visits"}
    for table, data in declared.items():
        assert data.declared() <= columns[table], (table, data.declared() - columns[table])
        # Each of the person's columns is matched or erased.
        assert {"visit_id", "visitor_id", "url", "data", "referrer", "landing"} & columns[
            table
        ] <= set(data.match) | set(data.erase), table


# ------------------------------------------------------------------------------ rollups

_ROLLUPS = (
    "SELECT dimension, value, sum(visits) AS visits, sum(page_views) AS page_views,"
    " sum(events) AS events FROM tracking_hourly GROUP BY dimension, value"
    " ORDER BY dimension, value"
)


def test_the_rollups_are_rebuilt_from_clickhouses_events(
    app_client: TestClient, ch_cli: CliRunner, settings: Settings, site: str
) -> None:
    _visit(app_client, site, "https://shop.example/", _ada_events())
    _visit(app_client, site, "https://shop.example/pricing", [{"id": "p1", "type": "page_view"}])
    written = fetch_rows(settings, _ROLLUPS)
    assert any(row["dimension"] == "page" and row["page_views"] for row in written)
    assert _sql_events(settings) == 0
    execute_sql(settings, "DELETE FROM tracking_hourly")
    execute_sql(settings, "DELETE FROM tracking_daily")

    today = datetime.now(UTC).date()
    result = ch_cli.invoke(
        cli_app,
        ["sites", "rebuild-rollups", *_days((today - timedelta(days=1)).isoformat(), str(today))],
    )
    assert result.exit_code == 0, result.output
    assert "2 visits and 5 events counted (events from ClickHouse)" in result.output
    assert fetch_rows(settings, _ROLLUPS) == written


def test_retention_removes_and_anonymises_in_clickhouse_as_in_the_database(
    app_client: TestClient,
    settings: Settings,
    site: str,
    clickhouse: ClickHouse,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A workspace's periods for events and visits reach ClickHouse: past them, the events
    go, the visit starts go, and the start of a visit the database keeps for a lead is
    anonymised there as it is in the database."""
    from leadline.audit.service import Actor
    from leadline.privacy import retention
    from tests.fixtures.factories import run_in_transaction

    ada, grace = _seed_people(app_client, settings, site, monkeypatch)
    (workspace,) = fetch_rows(settings, "SELECT id FROM workspaces WHERE slug = 'acme'")

    async def set_periods(session: Any) -> None:
        await retention.set_periods(
            session, workspace["id"], {"events": 30, "visits": 30}, actor=Actor.system("test")
        )

    run_in_transaction(settings, set_periods)
    later = datetime.now(UTC) + timedelta(days=60)

    async def run() -> retention.RunReport:
        db = Database(settings)
        try:
            return await retention.apply_retention(
                db,
                workspace["id"],
                trigger="cli",
                events_default_days=390,
                now=later,
                clickhouse=clickhouse,
            )
        finally:
            await db.dispose()

    report = asyncio.run(run())
    assert report.done
    assert report.counts["clickhouse.events"] == len(_ada_events()) + 1
    assert report.counts["clickhouse.visits"] == 1  # Grace's
    assert report.counts["clickhouse.visits_anonymised"] == 1  # Ada's, kept for her lead
    assert _events_of(clickhouse, ada["session_id"]) == []
    assert _events_of(clickhouse, grace["session_id"]) == []
    assert clickhouse.query(
        "SELECT count() FROM visits WHERE id = {id:String}", {"id": grace["session_id"]}
    ) == [(0,)]
    assert _visit_start(clickhouse, ada["session_id"])[0] == ""
    # As in the database: Grace's visit gone, Ada's kept without its browser.
    kept = fetch_rows(settings, "SELECT id, visitor_id FROM visits")
    assert [row["id"] for row in kept] == [ada["session_id"]]
