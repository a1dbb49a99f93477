"""The job that carries a large erasure through, a batch per transaction."""

from __future__ import annotations

from typing import Any

from leadline.clickhouse.source import ClickHouseSource
from leadline.db import Database
from leadline.jobs.registry import JobContext, RetryLater, task
from leadline.privacy import service as privacy

# Rows per transaction: short enough that no lock is held for long (on SQLite, the whole
# database's), long enough that a million rows take a thousand transactions.
BATCH = 1000
# Transactions per run of the job; then it hands the worker back and is run again at once.
STEPS_PER_RUN = 200


async def carry_on(
    db: Database, erasure_id: str, *, batch: int = BATCH, steps: int | None = None
) -> bool:
    """Erase ``steps`` batches (all that is left when None) of a running erasure, each in its
    own transaction; whether it is over. With ClickHouse keeping the events
    (LEADLINE_CLICKHOUSE_URL), the last batch erases the person there too."""
    url = db.settings.clickhouse_url
    source = ClickHouseSource(url) if url else None
    try:
        clickhouse = await source.client() if source is not None else None
        done = 0
        while steps is None or done < steps:
            async with db.transaction() as session:
                if await privacy.erase_some(session, erasure_id, batch, clickhouse):
                    return True
            done += 1
        return False
    finally:
        if source is not None:
            source.close()


@task(privacy.ERASE_JOB, max_attempts=50)
async def run_erasure(context: JobContext, payload: dict[str, Any]) -> None:
    """Carry a large erasure on from where it stands (a crash or a deploy loses at most the
    batch in hand, which is rolled back and done again)."""
    if not await carry_on(context.db, str(payload.get("erasure_id", "")), steps=STEPS_PER_RUN):
        raise RetryLater(0, "more to erase")
