"""Lead jobs: keeping SQLite's search table quick to read."""

from __future__ import annotations

from typing import Any

from leadline.db import Database
from leadline.jobs.registry import JobContext, Periodic, periodic, task
from leadline.leads.repository import LeadRepository

MERGE_SEARCH_INDEX = "leads.merge_search_index"

# Index pages merged per transaction: a few tens of milliseconds of SQLite's write lock.
MERGE_PAGES = 200


@task(MERGE_SEARCH_INDEX, max_attempts=3)
async def merge_search_index(context: JobContext, payload: dict[str, Any]) -> None:
    """SQLite's search table keeps its index as segments: each write transaction adds one and
    FTS5 merges them only now and then, while a search reads every one of them (a few dozen
    make a rare term's search several times slower). Merge them down. On PostgreSQL there is
    nothing to do."""
    await merge_segments(context.db)


async def merge_segments(db: Database) -> int:
    """Merge the search table's segments, a few pages per transaction, until there is nothing
    left to merge; how many transactions it took."""
    rounds = 0
    while True:
        async with db.transaction() as session:
            merged = await LeadRepository(session).merge_search_index(MERGE_PAGES)
        if not merged:
            return rounds
        rounds += 1


periodic(Periodic(name=MERGE_SEARCH_INDEX, kind=MERGE_SEARCH_INDEX, cron="*/15 * * * *"))
