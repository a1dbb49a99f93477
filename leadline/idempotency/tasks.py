"""Idempotency's jobs: removing stored answers nobody may replay any more."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from leadline.idempotency.repository import IdempotencyRepository
from leadline.jobs.registry import JobContext, Periodic, periodic, task
from leadline.kit.time import utcnow

PURGE_RECORDS = "idempotency.purge"

# Records deleted per transaction: small enough that no lock is held for long, on SQLite the
# whole database's.
PURGE_BATCH = 1000


@task(PURGE_RECORDS, max_attempts=3)
async def purge_records(context: JobContext, payload: dict[str, Any]) -> None:
    """Delete answers stored more than LEADLINE_IDEMPOTENCY_TTL_HOURS ago: past it a retry runs
    afresh anyway, so they only take room (one row, with its whole answer, per keyed POST)."""
    cutoff = utcnow() - timedelta(hours=context.settings.idempotency_ttl_hours)
    while True:
        async with context.db.transaction() as session:
            removed = await IdempotencyRepository(session).delete_older_than(cutoff, PURGE_BATCH)
        if removed < PURGE_BATCH:
            return


periodic(Periodic(name=PURGE_RECORDS, kind=PURGE_RECORDS, cron="29 * * * *"))
