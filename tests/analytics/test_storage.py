"""The storage report's row counts: exact while a workspace has few rows in a table,
estimated above (PostgreSQL's planner statistics, a sample of rowids on SQLite), within a few
per cent of the exact count, whoever else shares the table."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert

from leadline.config import Settings
from leadline.db import Database
from leadline.models import TrackingHourly
from leadline.sites.service import site_by_key
from leadline.tracking import rollup_repository, rollups
from tests.fixtures.factories import execute_sql, make_site

START = datetime(2026, 10, 1, tzinfo=UTC)


def _storage(settings: Settings, workspace_id: str, site_id: str) -> rollups.Storage:
    async def run() -> rollups.Storage:
        database = Database(settings)
        try:
            async with database.transaction() as session:
                return await rollups.storage(session, workspace_id, [site_id])
        finally:
            await database.dispose()

    return asyncio.run(run())


def _fill(settings: Settings, counts: dict[tuple[str, str], int]) -> None:
    """Hourly rows, interleaved: each (workspace, site) gets its count, one row per hour."""

    async def run() -> None:
        database = Database(settings)
        try:
            async with database.transaction() as session:
                rows = []
                most = max(counts.values())
                for n in range(most):
                    for (workspace_id, site_id), count in counts.items():
                        if n < count:
                            rows.append(
                                {
                                    "site_id": site_id,
                                    "workspace_id": workspace_id,
                                    "dimension": "total",
                                    "hour": START + timedelta(hours=n),
                                    "value": "",
                                    "visits": 1,
                                }
                            )
                for start in range(0, len(rows), 1_000):
                    await session.execute(insert(TrackingHourly), rows[start : start + 1_000])
        finally:
            await database.dispose()

    asyncio.run(run())


def _site(settings: Settings, workspace: str, domain: str) -> tuple[str, str]:
    async def run() -> tuple[str, str]:
        database = Database(settings)
        try:
            async with database.transaction() as session:
                site = await site_by_key(session, make_key)
                assert site is not None
                return site.workspace_id, site.site_id
        finally:
            await database.dispose()

    make_key = make_site(settings, workspace, domain)
    return asyncio.run(run())


def test_a_workspace_with_few_rows_is_counted_exactly(settings: Settings) -> None:
    ours = _site(settings, "acme", "shop.example")
    _fill(settings, {ours: 37})
    found = _storage(settings, *ours)
    assert found.rows["tracking_hourly"] == 37
    assert found.rows["events"] == 0
    assert list(found.rows) == list(rollup_repository.STORED_TABLES)


def test_many_rows_are_estimated_within_a_few_per_cent(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rollup_repository, "EXACT_BELOW", 100)
    monkeypatch.setattr(rollup_repository, "SAMPLE_ROWS", 400)
    ours = _site(settings, "acme", "shop.example")
    theirs = _site(settings, "other", "other.example")
    _fill(settings, {ours: 3_000, theirs: 1_000})
    # Some rows deleted: the rowids (SQLite) have gaps.
    execute_sql(
        settings,
        "DELETE FROM tracking_hourly WHERE workspace_id = :ws AND hour < :cut",
        ws=ours[0],
        cut=START + timedelta(hours=500),
    )
    if not settings.is_sqlite:
        execute_sql(settings, "ANALYZE tracking_hourly")
    ours_rows = _storage(settings, *ours).rows["tracking_hourly"]
    theirs_rows = _storage(settings, *theirs).rows["tracking_hourly"]
    assert abs(ours_rows - 2_500) <= 0.1 * 2_500, ours_rows
    assert abs(theirs_rows - 1_000) <= 0.15 * 1_000, theirs_rows


def test_bytes_slow_to_measure_are_kept_for_a_while(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    ours = _site(settings, "acme", "shop.example")
    measured = []
    measure = rollup_repository.RollupRepository.table_bytes

    async def counted(self: rollup_repository.RollupRepository) -> object:
        measured.append(1)
        return await measure(self)

    monkeypatch.setattr(rollup_repository.RollupRepository, "table_bytes", counted)
    monkeypatch.setattr(rollups, "_measured", {})
    # However long a busy machine takes, these count as fast.
    monkeypatch.setattr(rollups, "SLOW_BYTES", timedelta(hours=1))
    first = _storage(settings, *ours)
    _storage(settings, *ours)
    assert len(measured) == 2  # fast to measure: measured each time

    monkeypatch.setattr(rollups, "SLOW_BYTES", timedelta(0))
    kept = _storage(settings, *ours)
    again = _storage(settings, *ours)
    assert len(measured) == 3
    assert (again.bytes, again.database_bytes, again.method) == (
        kept.bytes,
        kept.database_bytes,
        kept.method,
    )
    assert first.method == kept.method
