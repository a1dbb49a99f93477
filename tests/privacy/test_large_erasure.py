"""An erasure too large for one transaction: 202 and a job, a batch per transaction, that
carries on where it stopped; the same result as an erasure done at once."""

from __future__ import annotations

import asyncio

import pytest
from starlette.testclient import TestClient

from leadline.audit import service as audit
from leadline.config import Settings
from leadline.db import Database
from leadline.privacy import service as privacy
from leadline.privacy.tasks import carry_on
from tests.fixtures.factories import fetch_rows, run_in_transaction
from tests.fixtures.jobs import run_worker_until

ADA = {"name": "Ada Lovelace", "email": "ada@example.com", "phone": "+44 20 7946 0000"}


def _steps(settings: Settings, erasure_id: str, steps: int | None, batch: int = 2) -> bool:
    async def run() -> bool:
        db = Database(settings)
        try:
            return await carry_on(db, erasure_id, batch=batch, steps=steps)
        finally:
            await db.dispose()

    return asyncio.run(run())


def _seed(api: TestClient) -> None:
    for n in range(5):
        made = api.post("/api/leads", json={**ADA, "gclid": f"G-ADA-{n}", "note": "Ada Lovelace"})
        assert made.status_code == 201, made.text
    assert api.post("/api/leads", json={"email": "grace@example.com"}).status_code == 201


def _traces(settings: Settings) -> list[str]:
    found = []
    for table in ("leads", "lead_status_changes", "webhook_events", "audit_events", "erasures"):
        for row in fetch_rows(settings, f"SELECT * FROM {table}"):
            text = str(row).lower()
            found.extend(
                f"{table}: {needle}"
                for needle in ("ada@example.com", "lovelace", "g-ada", "2079460000")
                if needle in text
            )
    return found


def test_a_large_history_is_erased_by_a_job_that_resumes(
    api: TestClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(privacy, "LARGE_ERASURE", 3)
    _seed(api)

    answer = api.post(
        "/api/v1/privacy/erasures",
        json={"email": "ada@example.com"},
        headers={"Authorization": f"Bearer {api.headers['X-API-KEY']}"},
    )

    assert answer.status_code == 202, answer.text
    started = answer.json()["data"]
    assert started["state"] == "running"
    assert "receipt_hash" not in started
    assert started["counts"] == {}
    # The progress names the person while it runs (it is gone when done), nothing else does.
    assert len(fetch_rows(settings, "SELECT id FROM leads")) == 6
    # Two batches, then a crash: what was done stays, the receipt says so.
    assert _steps(settings, started["id"], steps=2) is False
    bearer = {"Authorization": f"Bearer {api.headers['X-API-KEY']}"}
    halfway = api.get(f"/api/v1/privacy/erasures/{started['id']}", headers=bearer).json()["data"]
    assert halfway["state"] == "running"
    assert sum(halfway["counts"].values()) > 0

    # The worker takes the queued job and carries it to the end.
    def over() -> bool:
        (row,) = fetch_rows(settings, "SELECT state FROM erasures")
        return bool(row["state"] == "done")

    run_worker_until(settings, over)

    done = api.get(f"/api/v1/privacy/erasures/{started['id']}", headers=bearer).json()["data"]
    assert done["state"] == "done"
    assert done["counts"]["leads"] == 5
    assert done["counts"]["audit_events"] == 5
    assert len(done["receipt_hash"]) == 64
    workspace_id = fetch_rows(settings, "SELECT workspace_id FROM erasures")[0]["workspace_id"]
    kept = run_in_transaction(
        settings, lambda session: privacy.receipt(session, workspace_id, done["id"])
    )
    assert done["receipt_hash"] == privacy.receipt_hash(
        kept.id, workspace_id, kept.erased_at, kept.actor, None, kept.matched, kept.counts
    )
    assert [row["email"] for row in fetch_rows(settings, "SELECT email FROM leads")] == [
        "grace@example.com"
    ]
    assert fetch_rows(settings, "SELECT lead_count FROM workspaces")[0]["lead_count"] == 1
    assert _traces(settings) == []
    assert fetch_rows(settings, "SELECT progress FROM erasures")[0]["progress"] is None
    report = run_in_transaction(settings, lambda session: audit.check_chains(session))
    assert report.problems == []
    # Running the job again (a retry after the last step committed) does nothing.
    assert _steps(settings, started["id"], steps=None) is True
