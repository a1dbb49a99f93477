"""The lead jobs: merging the segments of SQLite's search table."""

from __future__ import annotations

import asyncio

import httpx
from starlette.testclient import TestClient

from leadline.config import Settings
from leadline.db import Database
from leadline.jobs.registry import JobContext, get_task, load_tasks, schedules
from leadline.leads import tasks
from leadline.models import SEARCH_TABLE
from tests.fixtures.factories import check_search_table, fetch_rows


def run_merge(settings: Settings) -> None:
    load_tasks()
    merge = get_task(tasks.MERGE_SEARCH_INDEX)
    assert merge is not None

    async def run() -> None:
        db = Database(settings)
        try:
            async with httpx.AsyncClient() as http:
                context = JobContext(
                    "job", tasks.MERGE_SEARCH_INDEX, None, 1, 3, "test", db, settings, http
                )
                await merge.run(context, {})
        finally:
            await db.dispose()

    asyncio.run(run())


def segments(settings: Settings) -> int:
    rows = fetch_rows(settings, f"SELECT count(DISTINCT segid) AS n FROM {SEARCH_TABLE}_idx")
    return int(rows[0]["n"])


def test_merges_the_segments_each_write_added_and_search_still_finds(
    api: TestClient, settings: Settings
) -> None:
    for n in range(12):  # a transaction, so a segment, each
        response = api.post(
            "/api/leads", json={"name": f"Merge Me {n}", "email": f"m{n}@x.example"}
        )
        assert response.status_code == 201, response.text
    sqlite = settings.database_url.startswith("sqlite")
    before = segments(settings) if sqlite else 0

    run_merge(settings)

    if sqlite:
        assert segments(settings) < before
        assert segments(settings) <= 2
        check_search_table(settings)
    body = api.get("/api/leads", params={"search": "merge me 1", "limit": 100}).json()
    assert body["meta"]["pagination"]["total"] == 3  # 1, 10, 11
    run_merge(settings)  # nothing left to merge is no error


def test_runs_every_quarter_of_an_hour() -> None:
    load_tasks()
    (schedule,) = [s for s in schedules() if s.kind == tasks.MERGE_SEARCH_INDEX]
    assert schedule.cron == "*/15 * * * *"
