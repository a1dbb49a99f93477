"""A closed workspace purged past its retention takes its events and visit starts out of
ClickHouse too; another workspace's stay."""

from __future__ import annotations

from datetime import UTC, datetime

from leadline.clickhouse.client import ClickHouse
from leadline.clickhouse.schema import EVENTS, VISITS
from leadline.config import Settings
from tests.fixtures.factories import fetch_rows, make_site
from tests.fixtures.workspaces import close_overdue
from tests.purge.test_tasks import run_task


def _workspace_id(settings: Settings, slug: str) -> str:
    (row,) = fetch_rows(settings, "SELECT id FROM workspaces WHERE slug = :slug", slug=slug)
    return str(row["id"])


def test_the_purge_deletes_the_workspace_in_clickhouse(
    settings: Settings, clickhouse: ClickHouse, clickhouse_url: str
) -> None:
    make_site(settings, "doomed", "doomed.example")
    make_site(settings, "kept", "kept.example")
    doomed, kept = _workspace_id(settings, "doomed"), _workspace_id(settings, "kept")
    now = datetime.now(UTC)
    for workspace in (doomed, kept):
        clickhouse.insert(
            "events",
            EVENTS,
            [(workspace, "s", "v", "e1", "click", now, now, None, "", "{}", 0)],
        )
        clickhouse.insert("visits", VISITS, [("v", workspace, "s", "u", now, 0, *[""] * 10)])
    close_overdue(settings, "doomed")

    run_task(settings.model_copy(update={"clickhouse_url": clickhouse_url}))

    assert fetch_rows(settings, "SELECT id FROM workspaces WHERE slug = 'doomed'") == []
    for table in ("events", "visits"):
        left = clickhouse.query(f"SELECT DISTINCT workspace_id FROM {table}")
        assert left == [(kept,)], table
