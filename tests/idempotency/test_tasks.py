"""The purge of stored Idempotency-Key answers: records older than the setting go, in batches,
younger ones stay; and the API's replay window is the same setting."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.testclient import TestClient

from leadline.app import create_app
from leadline.config import Settings
from leadline.db import Database
from leadline.idempotency import tasks
from leadline.jobs.registry import JobContext, get_task, load_tasks, schedules
from leadline.kit.time import utcnow
from leadline.models import IdempotencyRecord
from tests.fixtures.factories import fetch_rows, make_key, run_in_transaction


def store_records(settings: Settings, workspace: str, ages: dict[str, timedelta]) -> None:
    make_key(settings, workspace)  # makes the workspace
    (row,) = fetch_rows(settings, "SELECT id FROM workspaces WHERE slug = :s", s=workspace)

    async def work(session: AsyncSession) -> None:
        now = utcnow()
        for key, age in ages.items():
            session.add(
                IdempotencyRecord(
                    workspace_id=row["id"],
                    key=key,
                    request_hash="0" * 64,
                    status_code=201,
                    response_body="{}",
                    created_at=now - age,
                )
            )

    run_in_transaction(settings, work)


def run_purge(settings: Settings) -> None:
    load_tasks()
    purge = get_task(tasks.PURGE_RECORDS)
    assert purge is not None

    async def run() -> None:
        db = Database(settings)
        try:
            async with httpx.AsyncClient() as http:
                context = JobContext(
                    "job", tasks.PURGE_RECORDS, None, 1, 3, "test", db, settings, http
                )
                await purge.run(context, {})
        finally:
            await db.dispose()

    asyncio.run(run())


def test_records_past_the_ttl_are_purged_in_batches_and_younger_ones_kept(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings.model_copy(update={"idempotency_ttl_hours": 2})
    # Several batches, the last one partial.
    monkeypatch.setattr(tasks, "PURGE_BATCH", 2)
    old = {f"old-{n}": timedelta(hours=2, minutes=1 + n) for n in range(5)}
    store_records(settings, "acme", {**old, "young": timedelta(minutes=5)})
    store_records(
        settings, "other", {"ancient": timedelta(days=30), "almost": timedelta(minutes=119)}
    )

    run_purge(settings)

    kept = fetch_rows(settings, "SELECT key FROM idempotency_keys ORDER BY key")
    assert [row["key"] for row in kept] == ["almost", "young"]
    run_purge(settings)  # nothing left to do is no error
    assert len(fetch_rows(settings, "SELECT key FROM idempotency_keys")) == 2


def test_the_purge_runs_hourly() -> None:
    load_tasks()
    (schedule,) = [s for s in schedules() if s.kind == tasks.PURGE_RECORDS]
    assert schedule.cron is not None
    assert schedule.cron.split()[1:] == ["*", "*", "*", "*"]


def test_a_retry_after_the_ttl_runs_afresh(settings: Settings) -> None:
    settings = settings.model_copy(update={"idempotency_ttl_hours": 1})
    headers = {"Idempotency-Key": "order-42", "X-API-KEY": make_key(settings, "acme")}
    with TestClient(create_app(settings)) as client:
        first = client.post("/api/leads", json={"name": "Ada"}, headers=headers)
        assert first.status_code == 201, first.text
        replayed = client.post("/api/leads", json={"name": "Ada"}, headers=headers)
        assert replayed.json()["data"]["id"] == first.json()["data"]["id"]

        (stored,) = fetch_rows(settings, "SELECT workspace_id, key FROM idempotency_keys")

        async def age(session: AsyncSession) -> None:
            record = await session.get(IdempotencyRecord, (stored["workspace_id"], stored["key"]))
            assert record is not None
            record.created_at = utcnow() - timedelta(minutes=61)

        run_in_transaction(settings, age)
        again = client.post("/api/leads", json={"name": "Ada"}, headers=headers)
    assert again.status_code == 201
    assert again.json()["data"]["id"] != first.json()["data"]["id"]
