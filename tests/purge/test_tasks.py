"""The purge of closed workspaces past their retention period: every row of the workspace goes,
in batches, and nothing of another workspace; a purge cut short carries on at the next run."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import httpx
import pytest

from leadline.config import Settings
from leadline.db import Database
from leadline.jobs.registry import JobContext, get_task, load_tasks, schedules
from leadline.kit.time import utcnow
from leadline.purge import tasks
from leadline.purge.tasks import Purge
from tests.fixtures.factories import check_search_table, fetch_rows
from tests.fixtures.workspaces import (
    INSTANCE_TABLES,
    Filled,
    all_rows,
    app_client,
    close_overdue,
    fill,
    rows_of,
    set_closed,
)

# Tables a filled workspace has no row in: none. (A table added later without a row in
# tests.fixtures.workspaces.fill fails test_a_filled_workspace_has_rows_everywhere.)
EMPTY_IN_A_FILLED_WORKSPACE: frozenset[str] = frozenset()


def run_task(settings: Settings) -> None:
    """The periodic job itself, as a worker runs it."""
    load_tasks()
    task = get_task(tasks.PURGE_WORKSPACES)
    assert task is not None

    async def run() -> None:
        db = Database(settings)
        try:
            async with httpx.AsyncClient() as http:
                context = JobContext(
                    "job", tasks.PURGE_WORKSPACES, None, 1, 3, "test", db, settings, http
                )
                await task.run(context, {})
        finally:
            await db.dispose()

    asyncio.run(run())


def purge_some(settings: Settings, filled: Filled, *, batch: int, max_batches: int) -> Purge:
    async def run() -> Purge:
        db = Database(settings)
        try:
            return await tasks.purge_workspace(
                db,
                filled.workspace_id,
                filled.slug,
                now=utcnow(),
                batch=batch,
                max_batches=max_batches,
            )
        finally:
            await db.dispose()

    return asyncio.run(run())


@pytest.fixture
def two(settings: Settings) -> tuple[Filled, Filled]:
    """Two workspaces with a row in every table."""
    with app_client(settings) as client:
        return fill(client, settings, "doomed"), fill(client, settings, "kept")


def test_a_filled_workspace_has_rows_everywhere(
    settings: Settings, two: tuple[Filled, Filled]
) -> None:
    doomed, _ = two
    counts = rows_of(settings, doomed.workspace_id)
    empty = {name for name, count in counts.items() if count == 0}
    assert empty == EMPTY_IN_A_FILLED_WORKSPACE


def test_the_purge_removes_every_row_of_the_workspace_and_nothing_else(
    settings: Settings,
    two: tuple[Filled, Filled],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    doomed, kept = two
    kept_before = rows_of(settings, kept.workspace_id)
    instance_before = {
        name: count for name, count in all_rows(settings).items() if name in INSTANCE_TABLES
    }
    close_overdue(settings, doomed.slug)
    # Batches of two: every step takes several transactions.
    monkeypatch.setattr(tasks, "BATCH", 2)

    with caplog.at_level(logging.INFO, logger="leadline.purge.tasks"):
        run_task(settings)

    assert set(rows_of(settings, doomed.workspace_id).values()) == {0}
    assert rows_of(settings, kept.workspace_id) == kept_before
    # And no row of the purged workspace is left behind where no workspace_id names it (a
    # site's domain, a webhook attempt): every row left is the other workspace's.
    left = all_rows(settings)
    assert {name: left[name] for name in kept_before} == kept_before
    assert {name: left[name] for name in INSTANCE_TABLES} == instance_before
    check_search_table(settings)
    assert f"purged closed workspace doomed ({doomed.workspace_id})" in caplog.text


def test_the_other_workspace_keeps_working(settings: Settings, two: tuple[Filled, Filled]) -> None:
    doomed, kept = two
    close_overdue(settings, doomed.slug)
    run_task(settings)
    with app_client(settings) as client:
        lead = client.get(f"/api/leads/{kept.lead_id}", headers={"X-API-KEY": kept.admin_key})
        assert lead.status_code == 200, lead.text
        gone = client.get("/api/leads", headers={"X-API-KEY": doomed.admin_key})
        assert gone.status_code == 401
        tracked = client.post(
            "/track/session/start",
            json={"siteKey": doomed.site_key, "url": f"https://{doomed.host}/"},
            headers=doomed.page,
        )
        assert tracked.status_code == 404


def test_a_purge_cut_short_carries_on_at_the_next_run(
    settings: Settings, two: tuple[Filled, Filled]
) -> None:
    doomed, kept = two
    kept_before = rows_of(settings, kept.workspace_id)
    before = rows_of(settings, doomed.workspace_id)
    close_overdue(settings, doomed.slug)

    partial = purge_some(settings, doomed, batch=1, max_batches=3)

    assert not partial.done
    # Three transactions of one row each (a step's last finds nothing, and moves on).
    assert 0 < sum(partial.removed.values()) <= 3
    middle = rows_of(settings, doomed.workspace_id)
    assert middle["workspaces"] == 1
    assert sum(middle.values()) < sum(before.values())
    run_task(settings)
    assert set(rows_of(settings, doomed.workspace_id).values()) == {0}
    assert rows_of(settings, kept.workspace_id) == kept_before


def test_only_closed_workspaces_past_their_retention_are_purged(
    settings: Settings, two: tuple[Filled, Filled]
) -> None:
    doomed, _ = two
    now = utcnow()
    # Closed, but with an hour of its retention period left.
    set_closed(
        settings,
        doomed.slug,
        closed_at=now - timedelta(days=29),
        purge_after=now + timedelta(hours=1),
    )
    before = {ws.slug: rows_of(settings, ws.workspace_id) for ws in two}

    run_task(settings)

    assert {ws.slug: rows_of(settings, ws.workspace_id) for ws in two} == before
    statuses = fetch_rows(settings, "SELECT slug, status FROM workspaces ORDER BY slug")
    assert statuses == [
        {"slug": "doomed", "status": "closed"},
        {"slug": "kept", "status": "active"},
    ]


def test_the_purge_runs_every_hour() -> None:
    load_tasks()
    (schedule,) = [s for s in schedules() if s.kind == tasks.PURGE_WORKSPACES]
    assert schedule.cron == "47 * * * *"
