"""Refused tracking and capture requests, counted per site and UTC hour.

The public write paths refuse requests they cannot take (a body that does not decode, a page
of a domain the site does not list, a disabled form, a full queue). A few are normal; many
more than usual in an hour mean a site's tracker or forms broke, which anomaly detection
reports. Counting must cost those paths nothing they would notice, so a refusal adds one to
a dict in memory, by the site key the request named; the first refusal after a flush
schedules the next flush a minute later, which resolves the keys to sites and adds the
counts to ``ingest_errors_hourly`` in one transaction. The app flushes at shutdown too; a
process that dies loses at most its last minute of counts. Keys of no site are dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime

from leadline.db import Database
from leadline.kit.hours import floor_hour
from leadline.kit.time import utcnow
from leadline.sites import service as sites
from leadline.tracking.ingest_errors_repository import IngestErrorsRepository

log = logging.getLogger(__name__)

# Seconds between a first refusal and the flush that writes it.
FLUSH_AFTER = 60.0
# Keys counted at most between flushes: a flood of made-up keys cannot grow the dict.
MAX_KEYS = 10_000


class IngestErrors:
    """One process's counts of refusals not yet written, by (site key, hour)."""

    def __init__(self, database: Database, *, flush_after: float = FLUSH_AFTER) -> None:
        self.database = database
        self.flush_after = flush_after
        self.counts: dict[tuple[str, datetime], int] = {}
        self._flushing: asyncio.Task[None] | None = None

    def note(self, site_key: str | None, now: datetime | None = None) -> None:
        """Count one refused request that named ``site_key``."""
        if not site_key or len(site_key) > 64:
            return
        key = (site_key, floor_hour(now or utcnow()))
        if key not in self.counts and len(self.counts) >= MAX_KEYS:
            return
        self.counts[key] = self.counts.get(key, 0) + 1
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.get_running_loop().create_task(
                self._flush_later(), name="ingest errors"
            )

    async def _flush_later(self) -> None:
        # Until a flush leaves nothing behind (refusals counted while it wrote wait for the
        # next); no await between the check and the end, so note() sees this task done.
        while True:
            await asyncio.sleep(self.flush_after)
            await self.flush()
            if not self.counts:
                return

    async def flush(self) -> int:
        """Write the counts so far; how many (site, hour) rows were added to. On failure
        the counts are kept for the next flush."""
        counts, self.counts = self.counts, {}
        if not counts:
            return 0
        try:
            async with self.database.transaction() as session:
                rows = []
                for (site_key, hour), errors in counts.items():
                    found = await sites.site_by_key(session, site_key)
                    if found is not None:
                        rows.append(
                            {
                                "site_id": found.site_id,
                                "workspace_id": found.workspace_id,
                                "hour": hour,
                                "errors": errors,
                            }
                        )
                await IngestErrorsRepository(session).add(rows)
            return len(rows)
        except Exception:
            log.exception("ingest errors: %d counts could not be written", len(counts))
            for key, errors in counts.items():
                self.counts[key] = self.counts.get(key, 0) + errors
            return 0

    async def close(self) -> None:
        """Stop the scheduled flush and write what is counted (at shutdown)."""
        if self._flushing is not None and not self._flushing.done():
            self._flushing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flushing
        await self.flush()
