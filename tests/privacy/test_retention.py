"""Retention: periods per workspace and data class, set through the API and the command line;
a run that deletes (or anonymises) what is older, a batch per transaction, resumable, in an
order that never breaks what other rows need; rollups keep their counts and the audit chain
still verifies; the last run and its counts are shown."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner

from leadline.audit import service as audit
from leadline.cli import app as cli_app
from leadline.config import Settings
from leadline.db import Database
from leadline.jobs.registry import JobContext, get_task, load_tasks, schedules
from leadline.kit.time import utcnow
from leadline.models import Base
from leadline.models.personal import EMPTY_OBJECT, NULL
from leadline.privacy import retention, retention_tasks
from leadline.privacy import service as privacy
from leadline.privacy.retention import RunReport
from tests.fixtures.factories import execute_sql, fetch_rows, make_key, run_in_transaction
from tests.fixtures.leadiosa import bearer
from tests.fixtures.workspaces import Filled, app_client, fill, rows_of

OLD_DAYS = 400

# The tables whose time column says how old a row is, per table.
_AGED = {
    "events": ("received_at",),
    "visits": ("started_at", "last_seen_at"),
    "lead_submissions": ("created_at",),
    "leads": ("created_at", "updated_at"),
    "conversations": ("last_activity_at",),
    "webhook_deliveries": ("created_at",),
    "webhook_events": ("created_at",),
    "jobs": ("created_at",),
}
# Audit events cannot be aged (their hash covers their time): a run is told it is later.
LATER = timedelta(days=OLD_DAYS)


def age(settings: Settings, workspace_id: str, days: int = OLD_DAYS) -> None:
    """Move every row of the workspace in the aged tables ``days`` into the past (audit
    events stay as they are), written as the app writes times."""
    then = utcnow() - timedelta(days=days)

    async def work(session: AsyncSession) -> None:
        for name, columns in _AGED.items():
            table = Base.metadata.tables[name]
            await session.execute(
                update(table)
                .where(table.c.workspace_id == workspace_id)
                .values(dict.fromkeys(columns, then))
            )

    run_in_transaction(settings, work)


def apply(settings: Settings, filled: Filled, **more: Any) -> RunReport:
    async def run() -> RunReport:
        db = Database(settings)
        try:
            return await retention.apply_retention(
                db,
                filled.workspace_id,
                trigger="cli",
                events_default_days=settings.events_retention_days,
                **more,
            )
        finally:
            await db.dispose()

    return asyncio.run(run())


def chain_problems(settings: Settings) -> list[Any]:
    async def work(session: AsyncSession) -> list[Any]:
        return (await audit.check_chains(session)).problems

    return run_in_transaction(settings, work)


def rollup_totals(settings: Settings, workspace_id: str) -> dict[str, Any]:
    """What the reports read: the tracking and submission rollups, summed."""
    found = {}
    for table, column in (
        ("tracking_daily", "events"),
        ("tracking_hourly", "events"),
        ("submission_rollups", "submissions"),
        ("submission_days", "submissions"),
    ):
        rows = fetch_rows(
            settings,
            f"SELECT count(*) AS n, sum({column}) AS total FROM {table} WHERE workspace_id = :ws",
            ws=workspace_id,
        )
        found[table] = (rows[0]["n"], rows[0]["total"])
    return found


@pytest.fixture
def two(settings: Settings) -> tuple[Filled, Filled]:
    with app_client(settings) as client:
        return fill(client, settings, "acme"), fill(client, settings, "other")


def set_periods(settings: Settings, filled: Filled, **periods: int | None) -> dict[str, Any]:
    with app_client(settings) as client:
        answer = client.patch(
            "/api/v1/privacy/retention",
            json={"periods": periods},
            headers=bearer(filled.admin_key),
        )
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()["data"]
    return found


EVERY_CLASS = {name: 30 for name in retention.SHOWN}


# ------------------------------------------------------------------------------- the API


def test_periods_are_unset_until_set_and_shown_with_what_a_run_applies(
    settings: Settings,
) -> None:
    key = make_key(settings, "acme", "admin")
    with app_client(settings) as client:
        shown = client.get("/api/v1/privacy/retention", headers=bearer(key)).json()["data"]
        assert shown["periods"] == {name: None for name in retention.SHOWN}
        # Raw events keep the instance's default, as before.
        assert shown["effective_days"] == {"events": settings.events_retention_days}
        assert "last_run" not in shown
        answer = client.patch(
            "/api/v1/privacy/retention",
            json={"periods": {"visits": 90, "leads_lost": 365, "audit": None}},
            headers=bearer(key),
        )
        assert answer.status_code == 200, answer.text
        shown = answer.json()["data"]
        assert shown["periods"]["visits"] == 90
        assert shown["periods"]["leads_lost"] == 365
        # Events never outlive their visits.
        assert shown["effective_days"] == {"events": 90, "visits": 90, "leads_lost": 365}
        # null unsets; the others stay.
        answer = client.patch(
            "/api/v1/privacy/retention",
            json={"periods": {"visits": None}},
            headers=bearer(key),
        )
        shown = answer.json()["data"]
        assert shown["periods"]["visits"] is None
        assert shown["periods"]["leads_lost"] == 365
    changes = fetch_rows(
        settings, "SELECT changes FROM audit_events WHERE action = 'privacy.retention_changed'"
    )
    assert len(changes) == 2


@pytest.mark.parametrize(
    "body",
    [
        {"periods": {"visits": 0}},
        {"periods": {"visits": 36501}},
        {"periods": {"visits": "30"}},
        {"periods": {"visits": True}},
        {"periods": {"visits": 1.5}},
        {"periods": {"cookies": 30}},
        {"periods": {}},
        {"periods": 30},
        {},
        {"periods": {"visits": 30}, "extra": 1},
    ],
)
def test_bad_periods_are_refused_and_nothing_changes(
    settings: Settings, body: dict[str, Any]
) -> None:
    key = make_key(settings, "acme", "admin")
    with app_client(settings) as client:
        answer = client.patch("/api/v1/privacy/retention", json=body, headers=bearer(key))
        assert answer.status_code in (400, 422), answer.text
        assert "error" in answer.json()
    assert fetch_rows(settings, "SELECT * FROM retention_policies") == []


@pytest.mark.parametrize("role", ["integration", "marketing"])
def test_only_admins_and_owners_see_or_set_periods(settings: Settings, role: str) -> None:
    key = make_key(settings, "acme", role)
    with app_client(settings) as client:
        assert client.get("/api/v1/privacy/retention", headers=bearer(key)).status_code == 403
        answer = client.patch(
            "/api/v1/privacy/retention", json={"periods": {"visits": 30}}, headers=bearer(key)
        )
        assert answer.status_code == 403


# ------------------------------------------------------------------------------- the run


def test_a_run_removes_what_is_older_and_nothing_of_another_workspace(
    settings: Settings, two: tuple[Filled, Filled]
) -> None:
    acme, other = two
    set_periods(settings, acme, **EVERY_CLASS)
    # The delivery and the job are finished (a pending one is still on its way).
    execute_sql(settings, "UPDATE webhook_deliveries SET state = 'delivered'")
    execute_sql(settings, "UPDATE jobs SET state = 'succeeded' WHERE workspace_id IS NOT NULL")
    other_before = rows_of(settings, other.workspace_id)
    rollups_before = rollup_totals(settings, acme.workspace_id)
    lead_count = fetch_rows(
        settings, "SELECT lead_count FROM workspaces WHERE id = :ws", ws=acme.workspace_id
    )[0]["lead_count"]
    assert lead_count == 2

    report = apply(settings, acme, now=utcnow() + LATER)

    assert report.done
    after = rows_of(settings, acme.workspace_id)
    for table in (
        "events",
        "visits",
        "lead_submissions",
        "leads",
        "lead_status_changes",
        "conversations",
        "messages",
        "notes",
        "webhook_deliveries",
        "webhook_attempts",
        "conversion_uploads",
        "crm_sends",
    ):
        assert after[table] == 0, table
    # The run's own event is all the log keeps: the older ones went, and the chain verifies.
    actions = fetch_rows(
        settings, "SELECT action FROM audit_events WHERE workspace_id = :ws", ws=acme.workspace_id
    )
    assert [row["action"] for row in actions] == ["privacy.retention_applied"]
    assert chain_problems(settings) == []
    # Counts the reports read stay; the list's counts follow.
    assert rollup_totals(settings, acme.workspace_id) == rollups_before
    assert (
        fetch_rows(
            settings, "SELECT lead_count FROM workspaces WHERE id = :ws", ws=acme.workspace_id
        )[0]["lead_count"]
        == 0
    )
    facets = fetch_rows(
        settings,
        # (fill() labels its lead behind the API's back, so that facet never counted it.)
        "SELECT facet, count FROM lead_facets WHERE workspace_id = :ws AND count != 0"
        " AND facet != 'has:label_id'",
        ws=acme.workspace_id,
    )
    assert facets == []
    assert report.counts["leads_qualified"] == 1
    assert report.counts["leads_open"] == 1
    assert report.counts["visits"] == 1
    assert report.counts["audit"] > 5
    # The other workspace has no period: nothing of it went.
    assert rows_of(settings, other.workspace_id) == other_before


def test_unfinished_deliveries_and_jobs_are_kept_whatever_their_age(
    settings: Settings, two: tuple[Filled, Filled]
) -> None:
    acme, _ = two
    age(settings, acme.workspace_id)
    set_periods(settings, acme, webhook_deliveries=30, jobs=30)
    execute_sql(
        settings, "UPDATE jobs SET state = 'queued' WHERE workspace_id = :ws", ws=acme.workspace_id
    )
    execute_sql(settings, "UPDATE webhook_deliveries SET state = 'pending'")
    pending = rows_of(settings, acme.workspace_id)
    report = apply(settings, acme)
    after = rows_of(settings, acme.workspace_id)
    assert after["webhook_deliveries"] == pending["webhook_deliveries"] > 0
    assert after["jobs"] == pending["jobs"] > 0
    # Only raw events went: 400 days old, past the instance's 390 that applies with no period.
    assert report.counts == {"events": 2}


def test_a_visit_a_lead_still_points_to_is_anonymised_not_deleted(
    settings: Settings, two: tuple[Filled, Filled]
) -> None:
    acme, _ = two
    age(settings, acme.workspace_id)
    set_periods(settings, acme, visits=30)
    # A change of consent the visit's ledger stores (its start is read from its row).
    execute_sql(
        settings,
        "INSERT INTO consent_changes (id, workspace_id, site_id, visit_id, visitor_id, source,"
        " flags, occurred_at) SELECT 'cns_kept', workspace_id, site_id, id, visitor_id,"
        " 'banner', :flags, started_at FROM visits WHERE id = :v",
        v=acme.visit_id,
        flags='{"ad_storage":false}',
    )
    execute_sql(
        settings,
        "UPDATE visits SET gclid = 'Cj0-kept', referrer = 'https://ref.example/',"
        " screen = '390x844', device_id = 'dev-1' WHERE id = :v",
        v=acme.visit_id,
    )
    report = apply(settings, acme)
    visits = fetch_rows(
        settings,
        "SELECT id, visitor_id, user_agent, referrer, screen, device_id, gclid, revision"
        " FROM visits WHERE workspace_id = :ws",
        ws=acme.workspace_id,
    )
    # What the registry says erasure does to a visit, less the click ids the lead's
    # conversions are uploaded with.
    assert visits == [
        {
            "id": acme.visit_id,
            "visitor_id": None,
            "user_agent": None,
            "referrer": None,
            "screen": None,
            "device_id": None,
            "gclid": "Cj0-kept",
            "revision": visits[0]["revision"],
        }
    ]
    assert visits[0]["revision"] >= 1
    leads = fetch_rows(settings, "SELECT visit_id FROM leads WHERE visit_id = :v", v=acme.visit_id)
    assert leads, "the lead lost its visit"
    # Its consent history stays, no longer tied to the browser.
    entries = fetch_rows(
        settings, "SELECT visitor_id FROM consent_changes WHERE visit_id = :v", v=acme.visit_id
    )
    # (The filled workspace's own change of consent, and the one added above.)
    assert entries == [{"visitor_id": None}] * 2
    assert report.counts == {"visits_anonymised": 1, "events": 2}
    # Its events went with the events' own cut-off (never longer than visits).
    assert rows_of(settings, acme.workspace_id)["events"] == 0


def test_a_run_cut_short_carries_on_with_its_cutoffs(
    settings: Settings, two: tuple[Filled, Filled]
) -> None:
    acme, _ = two
    set_periods(settings, acme, **EVERY_CLASS)
    execute_sql(settings, "UPDATE webhook_deliveries SET state = 'failed'")
    first = apply(settings, acme, batch=1, max_batches=3, now=utcnow() + LATER)
    assert not first.done
    with app_client(settings) as client:
        shown = client.get("/api/v1/privacy/retention", headers=bearer(acme.admin_key)).json()[
            "data"
        ]
    assert shown["last_run"]["id"] == first.run_id
    assert "finished_at" not in shown["last_run"]
    assert sum(shown["last_run"]["counts"].values()) == 2  # the third batch found none

    second = apply(settings, acme, batch=1, now=utcnow() + LATER)
    assert second.done
    assert second.run_id == first.run_id
    assert rows_of(settings, acme.workspace_id)["leads"] == 0
    assert chain_problems(settings) == []
    with app_client(settings) as client:
        shown = client.get("/api/v1/privacy/retention", headers=bearer(acme.admin_key)).json()[
            "data"
        ]
    assert shown["last_run"]["finished_at"]
    assert shown["last_run"]["counts"] == second.counts
    assert set(shown["last_run"]["cutoffs"]) == set(retention.SHOWN)


def test_the_audit_chain_verifies_after_its_oldest_events_go(
    settings: Settings, two: tuple[Filled, Filled], cli: CliRunner
) -> None:
    acme, _ = two
    set_periods(settings, acme, audit=30)
    events_before = fetch_rows(
        settings,
        "SELECT count(*) AS n FROM audit_events WHERE workspace_id = :ws",
        ws=acme.workspace_id,
    )[0]["n"]
    report = apply(settings, acme, now=utcnow() + LATER)
    # (and raw events, past the instance's 390 days then)
    assert report.counts == {"audit": events_before, "events": 2}
    result = cli.invoke(cli_app, ["audit", "verify"])
    assert result.exit_code == 0, result.output
    # The chain goes on from its anchor; deleting a kept event is still found.
    set_periods(settings, acme, audit=60)
    assert chain_problems(settings) == []
    execute_sql(
        settings,
        "DELETE FROM audit_events"
        " WHERE workspace_id = :ws AND action = 'privacy.retention_applied'",
        ws=acme.workspace_id,
    )
    assert chain_problems(settings)


# --------------------------------------------------------------------- the command line


def test_dry_run_prints_a_line_per_class_and_changes_nothing(
    settings: Settings, two: tuple[Filled, Filled], cli: CliRunner
) -> None:
    acme, _ = two
    age(settings, acme.workspace_id)
    result = cli.invoke(
        cli_app,
        [
            "privacy",
            "retention-periods",
            "--workspace",
            "acme",
            "leads_open=30",
            "visits=forever",
            "jobs=60",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "leads_open 30" in result.output.splitlines()
    before = rows_of(settings, acme.workspace_id)
    result = cli.invoke(cli_app, ["privacy", "retention", "--dry-run", "--workspace", "acme"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "workspace acme",
        "events: 2 to remove (older than 390 days)",
        "visits: kept forever",
        "submissions: kept forever",
        "leads_open: 1 to remove (older than 30 days)",
        "leads_qualified: kept forever",
        "leads_won: kept forever",
        "leads_lost: kept forever",
        "conversations: 0 to remove (older than 3650 days)",
        "webhook_deliveries: kept forever",
        "jobs: 1 to remove (older than 60 days)",
        "audit: kept forever",
    ]
    assert rows_of(settings, acme.workspace_id) == before

    result = cli.invoke(cli_app, ["privacy", "retention", "--workspace", "acme"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("workspace acme: run ret_")
    assert "leads_open: 1 removed" in lines
    assert "events: 2 removed" in lines
    assert "visits: kept forever" in lines
    assert rows_of(settings, acme.workspace_id)["leads"] == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--workspace", "nope", "visits=3"], "nope"),
        (["--workspace", "acme", "visits"], "CLASS=DAYS"),
        (["--workspace", "acme", "visits=soon"], "soon"),
        (["--workspace", "acme", "cookies=3"], "cookies"),
        (["--workspace", "acme", "visits=0"], "visits"),
    ],
)
def test_retention_periods_refuses_bad_input(
    settings: Settings, cli: CliRunner, args: list[str], message: str
) -> None:
    make_key(settings, "acme", "admin")
    result = cli.invoke(cli_app, ["privacy", "retention-periods", *args])
    assert result.exit_code != 0
    assert message in result.output
    assert fetch_rows(settings, "SELECT * FROM retention_policies") == []


# -------------------------------------------------------------------------------- the job


def test_the_daily_job_runs_every_workspace_with_a_period(
    settings: Settings, two: tuple[Filled, Filled]
) -> None:
    acme, other = two
    age(settings, acme.workspace_id)
    age(settings, other.workspace_id)
    set_periods(settings, acme, leads_open=30)
    load_tasks()
    assert any(one.name == retention_tasks.APPLY_RETENTION for one in schedules())
    task = get_task(retention_tasks.APPLY_RETENTION)
    assert task is not None

    async def run() -> None:
        db = Database(settings)
        try:
            async with httpx.AsyncClient() as http:
                context = JobContext(
                    "job", retention_tasks.APPLY_RETENTION, None, 1, 3, "test", db, settings, http
                )
                await task.run(context, {})
        finally:
            await db.dispose()

    asyncio.run(run())
    runs = fetch_rows(
        settings,
        "SELECT workspace_id, trigger, finished_at FROM retention_runs WHERE trigger = 'job'",
    )
    # fill() made a period in both workspaces (conversations, ten years), so both ran.
    assert {row["workspace_id"] for row in runs} == {acme.workspace_id, other.workspace_id}
    assert all(row["finished_at"] is not None for row in runs)
    assert rows_of(settings, acme.workspace_id)["leads"] == 1
    assert rows_of(settings, other.workspace_id)["leads"] == 2


def test_retention_anonymises_a_visits_own_rows_as_the_registry_declares() -> None:
    # The visit, its events and its consent entries: never the leads or submissions of it.
    tables = {one.name: one.data for one in privacy.visit_tables()}
    assert set(tables) == {"visits", "events", "consent_changes"}
    assert "gclid" not in tables["visits"].erase
    assert tables["visits"].erase["user_agent"] == NULL
    assert tables["events"].erase["data"] == EMPTY_OBJECT
    assert tables["consent_changes"].erase == {"visitor_id": NULL}
